// Intentions aligned to any step of a script (its group, for `eval run --inject`).  params: $script
MATCH (:Script {id: $script})-[:HAS_STEP]->(:Step)-[:ALIGNED]->(i:Intention)
RETURN DISTINCT i.id AS id
