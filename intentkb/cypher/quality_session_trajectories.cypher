// How many sessions have how many trajectories (root-to-leaf paths of their intention trees).
MATCH (s:Session)
OPTIONAL MATCH (s)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(leaf:Intention)
WHERE NOT (leaf)-[:BRANCH]->()
WITH s, count(leaf) AS n
RETURN n AS trajectories, count(s) AS sessions
ORDER BY trajectories
