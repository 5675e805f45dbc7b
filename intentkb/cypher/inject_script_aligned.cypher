// Intentions aligned to any step of a script (an esb item's group, left out by `eval run --inject`).  params: $group
MATCH (:Script {id: $group})-[:HAS_STEP]->(:Step)-[:ALIGNED]->(i:Intention)
RETURN DISTINCT i.id AS id
