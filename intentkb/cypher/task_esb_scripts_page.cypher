// Scripts after a cursor, in id order, with their steps (empty for a script without steps).
// params: $after, $limit
MATCH (c:Script)
WHERE c.id > $after
WITH c
ORDER BY c.id
LIMIT $limit
OPTIONAL MATCH (c)-[:HAS_STEP]->(s:Step)
WITH c, s
ORDER BY c.id, s.idx
RETURN c.id AS id, c.objective AS objective, c.specific_goal AS specific_goal, c.constraint AS constraint,
       c.category AS category, [x IN collect({id: s.id, idx: s.idx, text: s.text}) WHERE x.id IS NOT NULL] AS steps
ORDER BY id
