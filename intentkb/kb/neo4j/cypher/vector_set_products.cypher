// Embeddings written onto Product nodes, stored as float32 vectors.  params: $rows: [{id, vec, hash}]
UNWIND $rows AS r
MATCH (n:Product {id: r.id})
CALL db.create.setNodeVectorProperty(n, 'embedding', r.vec)
SET n.embedding_hash = r.hash
RETURN count(n) AS written
