// Steps (id, text), of some scripts or of all, a page at a time.  params: $scripts (list or null), $after, $limit
MATCH (c:Script)-[:HAS_STEP]->(s:Step)
WHERE ($scripts IS NULL OR c.id IN $scripts) AND s.id > $after
WITH s.id AS id, s.text AS text
ORDER BY id
LIMIT $limit
RETURN id, text
