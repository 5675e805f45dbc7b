// Known intention → product links (co-buy and purchase intentions EXPLAIN their products), for
// calibrating the product index's weak-match score.  params: $limit
MATCH (i:Intention)-[:EXPLAINS]->(p:Product)
WHERE p.title IS NOT NULL AND i.text IS NOT NULL
RETURN i.id AS intention, i.text AS text, p.id AS product
ORDER BY intention, product
LIMIT $limit
