// Products without model-extracted attributes yet, in id order after $after (generate attributes).
// params: $after, $limit, $viewed_only (only products some session viewed)
MATCH (p:Product)
WHERE p.id > $after AND p.attributes_prompt IS NULL
  AND ($viewed_only = false OR (p)<-[:VIEWED]-(:Session))
RETURN p.id AS id, p.title AS title, p.brand AS brand, p.color AS color, p.size AS size, p.model AS model,
       p.material AS material, p.category AS category, p.desc AS desc, p.features AS features, p.image_urls AS image_urls
ORDER BY id
LIMIT $limit
