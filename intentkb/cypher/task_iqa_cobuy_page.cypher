// Co-buy intentions after a cursor, in id order, with the pair they explain (roles a and b).
// Intentions the role-aware filter rejected are left out; unfiltered ones are kept.
// params: $after, $limit
MATCH (i:Intention)
WHERE i.kind = 'cobuy' AND i.id > $after
WITH i
ORDER BY i.id
LIMIT $limit
OPTIONAL MATCH (i)-[:EXPLAINS {role: 'a'}]->(a:Product)
OPTIONAL MATCH (i)-[:EXPLAINS {role: 'b'}]->(b:Product)
RETURN i.id AS id, i.text AS text, i.assertion AS assertion, i.relation AS relation, i.accepted AS accepted,
       a.id AS a, a.title AS a_title, a.image_urls[0] AS a_image, b.id AS b, b.title AS b_title,
       b.image_urls[0] AS b_image
ORDER BY id
