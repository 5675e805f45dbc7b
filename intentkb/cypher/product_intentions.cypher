// Intentions about one product: co-buy and purchase intentions that EXPLAIN it, and session
// intentions formed AT it.  params: $product, $limit
MATCH (i:Intention)-[e:EXPLAINS|AT]->(p:Product {id: $product})
OPTIONAL MATCH (i)-[:EXPLAINS]->(other:Product)
WHERE other.id <> p.id
RETURN i.id AS id, i.kind AS kind, i.relation AS relation, i.text AS text, i.accepted AS accepted,
       type(e) AS via, e.role AS role, other.id AS other_product, other.title AS other_title
ORDER BY kind, relation, id
LIMIT $limit
