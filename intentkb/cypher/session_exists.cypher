// Whether a session is in the graph, and how many trajectories (root-to-leaf paths) it has.  params: $session
MATCH (s:Session {id: $session})
OPTIONAL MATCH (s)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(leaf:Intention)
WHERE NOT (leaf)-[:BRANCH]->()
RETURN s.id AS id, count(leaf) AS trajectories
