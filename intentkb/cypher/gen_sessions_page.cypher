// Sessions whose intention tree is not complete, in id order after $after (generate trees).
// params: $after, $limit
MATCH (s:Session)
WHERE s.id > $after AND s.tree_schedule IS NULL
RETURN s.id AS id, s.length AS length
ORDER BY id
LIMIT $limit
