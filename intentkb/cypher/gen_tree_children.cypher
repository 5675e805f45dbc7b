// rows: {id, props, parent, product, attribute: {id, name, value} | null}: generated intentions of
// step t+1 under their step-t parent, parent rows before child rows.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (i:Intention {id: k})
SET i += r.props
WITH i, r
MATCH (par:Intention {id: r.parent})
MERGE (par)-[:BRANCH]->(i)
WITH i, r
MATCH (p:Product {id: r.product})
MERGE (i)-[:AT]->(p)
WITH i, r, r.attribute.id AS ka
WHERE ka IS NOT NULL
MERGE (a:Attribute {id: ka})
SET a.name = r.attribute.name, a.value = r.attribute.value
MERGE (i)-[:VALUES]->(a)
