// Intentions after a cursor, in id order, with what the quality report measures of each:
// text, pipeline (kind), relation, source, verdicts, and the products it is linked to.
// params: $after, $limit
MATCH (i:Intention)
WHERE i.id > $after
WITH i
ORDER BY i.id
LIMIT $limit
OPTIONAL MATCH (i)-[:EXPLAINS|AT]->(p:Product)
WITH i, collect(DISTINCT p.id) AS products
RETURN i.id AS id, i.text AS text, i.kind AS kind, i.relation AS relation, i.assertion AS assertion,
       i.accepted AS accepted, i.critic_score AS critic_score, coalesce(i.source, i.model) AS source, products
ORDER BY id
