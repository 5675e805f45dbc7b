// Products after a cursor, in id order, that purchase intentions explain, with those intentions.
// params: $after, $limit
MATCH (p:Product)
WHERE p.id > $after AND (p)<-[:EXPLAINS]-(:Intention {kind: 'purchase'})
WITH p
ORDER BY p.id
LIMIT $limit
MATCH (p)<-[:EXPLAINS]-(i:Intention {kind: 'purchase'})
WITH p, i
ORDER BY i.id
RETURN p.id AS id, p.title AS title, coalesce(p.category, p.extracted_category) AS category,
       collect({id: i.id, text: i.text, accepted: i.accepted}) AS intentions
ORDER BY id
