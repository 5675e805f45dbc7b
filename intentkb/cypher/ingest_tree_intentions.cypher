// rows: {id, props, product, session (roots only), parent (others), attribute (id or null)}.
// One batch holds whole trees, so every tree appears in one atomic write. MERGE is eager on both
// engines, so a parent created by another row of the same batch is found by the later MATCH.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (i:Intention {id: k})
SET i += r.props
WITH i, r
MATCH (p:Product {id: r.product})
MERGE (i)-[:AT]->(p)
WITH i, r
OPTIONAL MATCH (par:Intention {id: r.parent})
OPTIONAL MATCH (s:Session {id: r.session})
OPTIONAL MATCH (a:Attribute {id: r.attribute})
FOREACH (_ IN CASE WHEN par IS NULL THEN [] ELSE [1] END | MERGE (par)-[:BRANCH]->(i))
FOREACH (_ IN CASE WHEN s IS NULL THEN [] ELSE [1] END | MERGE (s)-[:ROOT]->(i))
FOREACH (_ IN CASE WHEN a IS NULL THEN [] ELSE [1] END | MERGE (i)-[:VALUES]->(a))
