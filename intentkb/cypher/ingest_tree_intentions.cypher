// $roots: step-1 intentions {id, props, session, product, attribute}; $rows: the others, parent
// before child, {id, props, parent, product, attribute}. One batch holds whole trees, so every tree
// appears in one atomic write. MERGE is eager on both engines, so a parent MERGEd earlier in the
// same query is found by a MATCH placed after it (never before: that MATCH would run first). VALUES comes last: a node with no valued attribute
// (attribute null) simply ends its row there.
UNWIND $roots AS r
MATCH (s:Session {id: r.session})
WITH s, r, r.id AS k
MERGE (i:Intention {id: k})
SET i += r.props
MERGE (s)-[:ROOT]->(i)
WITH i, r
MATCH (p:Product {id: r.product})
MERGE (i)-[:AT]->(p)
WITH i, r
MATCH (a:Attribute {id: r.attribute})
MERGE (i)-[:VALUES]->(a)
WITH count(*) AS roots_done
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
WITH i, r
MATCH (a:Attribute {id: r.attribute})
MERGE (i)-[:VALUES]->(a)
