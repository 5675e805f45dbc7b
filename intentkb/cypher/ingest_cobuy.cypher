// rows: {a: {id, props}, b: {id, props}, intention: {id, props}}: pair, co-buy edge and its intention.
UNWIND $rows AS r
WITH r, r.a.id AS ka, r.b.id AS kb, r.intention.id AS ki
MERGE (a:Product {id: ka})
SET a += r.a.props
MERGE (b:Product {id: kb})
SET b += r.b.props
MERGE (a)-[:CO_BOUGHT]->(b)
MERGE (i:Intention {id: ki})
SET i += r.intention.props
MERGE (i)-[:EXPLAINS {role: 'a'}]->(a)
MERGE (i)-[:EXPLAINS {role: 'b'}]->(b)
