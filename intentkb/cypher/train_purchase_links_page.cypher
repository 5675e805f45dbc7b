// Purchase intentions with the product they explain, for `train embedder` (intention ↔ product
// text), a page at a time in intention id order.  params: $after, $limit
MATCH (i:Intention)
WHERE i.kind = 'purchase' AND i.id > $after AND i.text IS NOT NULL
WITH i
ORDER BY i.id
LIMIT $limit
MATCH (i)-[:EXPLAINS]->(p:Product)
WHERE p.title IS NOT NULL
OPTIONAL MATCH (p)-[:HAS_ATTRIBUTE]->(a:Attribute)
WITH i, p, collect(a.name + ': ' + a.value) AS attrs
RETURN i.id AS id, i.text AS text, i.accepted AS accepted, p.id AS product, p.title AS title,
       coalesce(p.category, p.extracted_category) AS category, p.brand AS brand, attrs
ORDER BY id, product
