// Product nodes whose embedding is in the graph's vector index, with the hash of the text it was
// made from (index build re-embeds only what changed).  params: $after, $limit
MATCH (n:Product)
WHERE n.embedding_hash IS NOT NULL AND n.id > $after
WITH n.id AS id, n.embedding_hash AS hash
ORDER BY id
LIMIT $limit
RETURN id, hash
