// Scripts by id, else by objective (case-insensitive: the whole objective first, then objectives containing it).  params: $key, $limit
MATCH (c:Script)
WHERE c.id = $key OR toLower(c.objective) CONTAINS toLower($key)
RETURN c.id AS id, c.objective AS objective, c.specific_goal AS specific_goal,
       c.id = $key OR toLower(c.objective) = toLower($key) AS exact
ORDER BY exact DESC, size(c.objective), id
LIMIT $limit
