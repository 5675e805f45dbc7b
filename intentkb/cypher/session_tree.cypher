// Every intention node of one session's tree with its parent, for a networkx tree.  params: $session
MATCH (s:Session {id: $session})-[:ROOT]->(r:Intention)
MATCH (r)-[:BRANCH*0..]->(n:Intention)
OPTIONAL MATCH (par:Intention)-[:BRANCH]->(n)
OPTIONAL MATCH (n)-[:AT]->(p:Product)
OPTIONAL MATCH (n)-[:VALUES]->(a:Attribute)
RETURN n.id AS id, par.id AS parent, n.step AS step, n.text AS text,
       a.name AS attribute_name, a.value AS attribute_value, n.rationale AS rationale,
       n.comparison_aspect AS comparison_aspect, n.comparison AS comparison, p.id AS product
ORDER BY step, id
