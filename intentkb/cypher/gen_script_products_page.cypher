// Products not yet used as a source of generated scripts ($for = 'scripts') or of purchase
// intentions ($for = 'purchase'), in id order after $after.  params: $after, $limit, $for
MATCH (p:Product)
WHERE p.id > $after
  AND (($for = 'scripts' AND p.scripts_prompt IS NULL) OR ($for = 'purchase' AND p.purchase_prompt IS NULL))
RETURN p.id AS id, p.title AS title, p.brand AS brand, p.color AS color, p.size AS size, p.model AS model,
       p.material AS material, p.category AS category, p.desc AS desc, p.image_urls AS image_urls
ORDER BY id
LIMIT $limit
