// Intention trajectories (root-to-leaf paths) of the given sessions.
// params: $sessions (list of session ids). Streamed by the caller, one page of sessions at a time.
MATCH (s:Session)
WHERE s.id IN $sessions
MATCH p = (s)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(leaf:Intention)
WHERE NOT (leaf)-[:BRANCH]->()
RETURN s.id AS session, [n IN nodes(p)[1..] | n.id] AS intentions
