// Embeddings removed from a batch of Intention nodes (gone from the index, or a rebuild with another
// model).  params: $ids (null: any), $limit
MATCH (n:Intention)
WHERE n.embedding_hash IS NOT NULL AND ($ids IS NULL OR n.id IN $ids)
WITH n LIMIT $limit
REMOVE n.embedding, n.embedding_hash
RETURN count(n) AS cleared
