// The graph's own vector index over Product embeddings (cosine; full float32 vectors: quantised ones
// moved cosines by up to 0.01 and recall@10 to 0.89 on the demo graph).  params: $index, $dimensions
CREATE VECTOR INDEX $index IF NOT EXISTS
FOR (n:Product) ON n.embedding
OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, `vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}
