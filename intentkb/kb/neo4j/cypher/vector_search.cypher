// The k nearest nodes of each query vector in a vector index, with cosine similarity (Neo4j's
// cosine score is (1 + cos) / 2).  params: $index, $k, $queries: [{q, vec}]
UNWIND $queries AS query
CALL db.index.vector.queryNodes($index, $k, query.vec) YIELD node, score
RETURN query.q AS q, node.id AS id, 2 * score - 1 AS score
