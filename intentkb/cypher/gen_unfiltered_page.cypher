// Co-buy intentions the role-aware filter has not judged, in id order after $after (MIND step 3).
// params: $after, $limit
MATCH (i:Intention)
WHERE i.id > $after AND i.kind = 'cobuy' AND i.accepted IS NULL
MATCH (a:Product)<-[:EXPLAINS {role: 'a'}]-(i)-[:EXPLAINS {role: 'b'}]->(b:Product)
RETURN i.id AS id, i.text AS text, i.relation AS relation,
       a.id AS a, a.title AS a_title, a.features AS a_features, a.image_urls AS a_images,
       b.id AS b, b.title AS b_title, b.features AS b_features, b.image_urls AS b_images
ORDER BY id
LIMIT $limit
