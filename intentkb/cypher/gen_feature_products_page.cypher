// Co-bought products without extracted features, in id order after $after (MIND step 1).  params: $after, $limit
MATCH (p:Product)
WHERE p.id > $after AND p.features IS NULL AND (p)-[:CO_BOUGHT]-(:Product)
RETURN p.id AS id, p.title AS title, p.brand AS brand, p.color AS color, p.size AS size, p.model AS model,
       p.material AS material, p.category AS category, p.desc AS desc, p.image_urls AS image_urls
ORDER BY id
LIMIT $limit
