// A script and its steps in order.  params: $script
MATCH (c:Script {id: $script})-[:HAS_STEP]->(s:Step)
RETURN c.objective AS objective, s.idx AS idx, s.id AS id, s.text AS text
ORDER BY idx
