// $roots: step-1 intentions {id, props, session, product, attribute}; $rows: the others, parent
// before child, {id, props, parent, product, attribute}. One batch holds whole trees, so every tree
// appears in one atomic write. MERGE is eager on both engines, so a parent MERGEd earlier in the
// same query is found by a MATCH placed after it (never before: that MATCH would run first). VALUES comes last: a node with no valued attribute
// (attribute null) simply ends its row there.
// $trees: [{session, keep: [every intention id of its new tree]}]: a tree loaded again is the later
// record, so nodes of the earlier version it lacks go first, and each node's AT/VALUES edges are its own.
UNWIND $trees AS t
CALL {
  WITH t
  MATCH (:Session {id: t.session})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(old:Intention)
  WHERE NOT old.id IN t.keep
  DETACH DELETE old
}
WITH count(*) AS cleared
UNWIND $roots AS r
MATCH (s:Session {id: r.session})
WITH s, r, r.id AS k
MERGE (i:Intention {id: k})
SET i += r.props
MERGE (s)-[:ROOT]->(i)
WITH i, r
CALL {
  WITH i, r
  MATCH (i)-[e:AT|VALUES]->(x)
  WHERE NOT x.id IN [r.product, r.attribute]
  DELETE e
}
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
CALL {
  WITH i, r
  MATCH (i)-[e:AT|VALUES]->(x)
  WHERE NOT x.id IN [r.product, r.attribute]
  DELETE e
}
WITH i, r
MATCH (p:Product {id: r.product})
MERGE (i)-[:AT]->(p)
WITH i, r
MATCH (a:Attribute {id: r.attribute})
MERGE (i)-[:VALUES]->(a)
