// Co-bought pairs after ($a, $b) in (a, b) id order, with the relations that already have a
// co-buy intention for the pair (MIND step 2).  params: $a, $b, $limit
MATCH (a:Product)-[:CO_BOUGHT]->(b:Product)
WHERE a.id > $a OR (a.id = $a AND b.id > $b)
WITH a, b
ORDER BY a.id, b.id
LIMIT $limit
OPTIONAL MATCH (a)<-[:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(b)
WHERE i.kind = 'cobuy'
WITH a, b, collect(DISTINCT i.relation) AS done
RETURN a.id AS a, b.id AS b, a.title AS a_title, a.features AS a_features, a.image_urls AS a_images,
       b.title AS b_title, b.features AS b_features, b.image_urls AS b_images, done
ORDER BY a, b
