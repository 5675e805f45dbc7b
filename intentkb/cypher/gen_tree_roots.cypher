// rows: {id, props, session, product, attribute: {id, name, value} | null}: generated step-1 intentions.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (i:Intention {id: k})
SET i += r.props
WITH i, r
MATCH (s:Session {id: r.session})
MERGE (s)-[:ROOT]->(i)
WITH i, r
MATCH (p:Product {id: r.product})
MERGE (i)-[:AT]->(p)
WITH i, r, r.attribute.id AS ka
WHERE ka IS NOT NULL
MERGE (a:Attribute {id: ka})
SET a.name = r.attribute.name, a.value = r.attribute.value
MERGE (i)-[:VALUES]->(a)
