// What each intention of a page of sessions' trees says, for the SessionIntentBench task builders.
// The trajectories themselves come from `trajectories`; this supplies the nodes on them, once each,
// with only the fields the tasks show (each returned value costs the client parsing time).
// params: $sessions (list of session ids)
MATCH (s:Session)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(n:Intention)
WHERE s.id IN $sessions
OPTIONAL MATCH (n)-[:VALUES]->(a:Attribute)
OPTIONAL MATCH (n)-[:AT]->(p:Product)
RETURN n.id AS id, n.text AS text, a.name + ': ' + a.value AS attribute,
       n.comparison_aspect AS comparison_aspect, n.comparison AS comparison, p.id AS product
