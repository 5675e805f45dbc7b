// Script steps with the intentions they are ALIGNED to at or above $min_score, for `train embedder`
// (step ↔ intention), a page of steps at a time in step id order.  params: $after, $limit, $min_score
MATCH (s:Step)
WHERE s.id > $after
WITH s
ORDER BY s.id
LIMIT $limit
OPTIONAL MATCH (s)-[a:ALIGNED]->(i:Intention)
WHERE a.score >= $min_score AND i.text IS NOT NULL
RETURN s.id AS id, s.text AS text, collect(i.text) AS intentions, collect(i.id) AS intention_ids
ORDER BY id
