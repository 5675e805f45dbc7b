// Intentions found for `eval run --inject`: text, kind, filter verdict, the products they explain
// or were formed at, and the session of a tree intention.  params: $ids
UNWIND $ids AS iid
MATCH (i:Intention {id: iid})
OPTIONAL MATCH (i)-[:EXPLAINS|AT]->(p:Product)
WITH i, collect(DISTINCT p.id) AS products
OPTIONAL MATCH (i)<-[:BRANCH*0..32]-(:Intention)<-[:ROOT]-(s:Session)
RETURN i.id AS id, i.text AS text, i.kind AS kind, i.accepted AS accepted, products, collect(DISTINCT s.id) AS sessions
