// rows: {id, props, attributes: [{id, name, value}]}; catalogue attributes become HAS_ATTRIBUTE edges.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (p:Product {id: k})
SET p += r.props
WITH p, r
UNWIND r.attributes AS a
WITH p, a, a.id AS ak
MERGE (t:Attribute {id: ak})
ON CREATE SET t.name = a.name, t.value = a.value
MERGE (p)-[:HAS_ATTRIBUTE]->(t)
