// Scripts and their steps in order, for a batch of scripts.  params: $scripts
UNWIND $scripts AS sid
MATCH (c:Script {id: sid})-[:HAS_STEP]->(s:Step)
RETURN c.id AS script, c.objective AS objective, s.idx AS idx, s.id AS id, s.text AS text
ORDER BY script, idx
