// rows: {id, category, props, attributes: [{id, name, value}]}: a product's model-extracted category
// (kept apart; `category` is only filled when the catalogue had none) and attributes.
UNWIND $rows AS r
MATCH (p:Product {id: r.id})
SET p += r.props, p.category = coalesce(p.category, r.category)
WITH p, r
UNWIND r.attributes AS a
WITH p, a, a.id AS k
MERGE (x:Attribute {id: k})
SET x.name = a.name, x.value = a.value
MERGE (p)-[:HAS_ATTRIBUTE]->(x)
