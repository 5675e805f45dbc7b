// Product texts for the FAISS product index (retrieve's direct path), a page at a time in id
// order: title, category, brand and the product's attributes.  params: $after, $limit
MATCH (p:Product)
WHERE p.id > $after AND p.title IS NOT NULL
WITH p
ORDER BY p.id
LIMIT $limit
OPTIONAL MATCH (p)-[:HAS_ATTRIBUTE]->(a:Attribute)
WITH p, collect(a.name + ': ' + a.value) AS attrs
RETURN p.id AS id, p.title AS title, coalesce(p.category, p.extracted_category) AS category, p.brand AS brand, attrs
ORDER BY id
