// rows: {id, props, a, b}: a generated co-buy intention explaining the pair (a, b).
UNWIND $rows AS r
WITH r, r.id AS k
MATCH (a:Product {id: r.a})
MATCH (b:Product {id: r.b})
MERGE (i:Intention {id: k})
SET i += r.props
MERGE (i)-[:EXPLAINS {role: 'a'}]->(a)
MERGE (i)-[:EXPLAINS {role: 'b'}]->(b)
