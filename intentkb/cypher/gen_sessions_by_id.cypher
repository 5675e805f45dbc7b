// The sessions named in $ids (generate trees --session).  params: $ids
MATCH (s:Session)
WHERE s.id IN $ids
RETURN s.id AS id, s.length AS length
ORDER BY id
