// What each intention of a page of sessions' trees says, for the SessionIntentBench task builders.
// The trajectories themselves come from `trajectories`; this supplies the nodes on them, once each.
// params: $sessions (list of session ids)
MATCH (s:Session)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(n:Intention)
WHERE s.id IN $sessions
OPTIONAL MATCH (n)-[:VALUES]->(a:Attribute)
OPTIONAL MATCH (n)-[:AT]->(p:Product)
RETURN n.id AS id, n.step AS step, n.text AS text, a.name AS attribute_name, a.value AS attribute_value,
       n.rationale AS rationale, n.comparison_aspect AS comparison_aspect, n.comparison AS comparison,
       p.id AS product
