// Product categories with their product count, and how many scripts were generated from them
// (`generate scripts --from categories` gives them source_id 'category:<name>').
MATCH (p:Product)
WHERE p.category IS NOT NULL
WITH p.category AS category, count(p) AS products
OPTIONAL MATCH (c:Script {source_id: 'category:' + category})
WITH category, products, count(c) AS scripts
RETURN category, products, scripts
ORDER BY category
