// Intention texts for the FAISS index, a page at a time in id order.  params: $after, $limit
MATCH (i:Intention)
WHERE i.id > $after
WITH i.id AS id, i.text AS text
ORDER BY id
LIMIT $limit
RETURN id, text
