// The products each intention leads to (EXPLAINS: co-buy, purchase; AT: session trees), for the
// link table beside the intention index, a page of intentions at a time in id order.
// params: $after, $limit
MATCH (i:Intention)
WHERE i.id > $after
WITH i
ORDER BY i.id
LIMIT $limit
OPTIONAL MATCH (i)-[e:EXPLAINS|AT]->(p:Product)
WITH i.id AS id, i.kind AS kind, collect(p.id) AS products, collect(type(e)) AS vias
RETURN id, kind, products, vias
ORDER BY id
