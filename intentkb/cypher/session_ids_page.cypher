// Session ids after a cursor, in id order: the paging key for streamed trajectory enumeration.
MATCH (s:Session)
WHERE s.id > $after
WITH s.id AS id
ORDER BY id
LIMIT $limit
RETURN id
