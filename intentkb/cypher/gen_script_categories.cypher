// Product categories with their product count, and whether scripts were generated from them already.
MATCH (p:Product)
WHERE p.category IS NOT NULL
WITH p.category AS category, count(p) AS products
OPTIONAL MATCH (c:Script {source_id: category})
WITH category, products, count(c) AS scripts
RETURN category, products, scripts
ORDER BY category
