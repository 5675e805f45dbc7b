// Intention texts for the FAISS index, a page at a time in id order, with the products each leads
// to (EXPLAINS: co-buy, purchase; AT: session trees) for the link table beside the index, read in
// the same pass.  params: $after, $limit
MATCH (i:Intention)
WHERE i.id > $after
WITH i
ORDER BY i.id
LIMIT $limit
OPTIONAL MATCH (i)-[e:EXPLAINS|AT]->(p:Product)
WITH i.id AS id, i.text AS text, i.kind AS kind, collect(p.id) AS products, collect(type(e)) AS vias
RETURN id, text, kind, products, vias
ORDER BY id
