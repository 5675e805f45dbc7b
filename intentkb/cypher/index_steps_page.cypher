// Script step texts for the FAISS index, a page at a time in id order.  params: $after, $limit
MATCH (s:Step)
WHERE s.id > $after
WITH s.id AS id, s.text AS text
ORDER BY id
LIMIT $limit
RETURN id, text
