// Intentions found near a question's answer, with the products they lead to and the products
// co-bought with those (to keep a distractor away from the question's own pair).
// params: $ids (list of intention ids). Products are collected in id order: the distractor pool is
// sampled with a seed, so its order must not depend on the engine (Neo4j and FalkorDB differ).
UNWIND $ids AS k
MATCH (i:Intention {id: k})-[:EXPLAINS|AT]->(p:Product)
WITH i, p ORDER BY i.id, p.id
RETURN i.id AS id, i.text AS text, i.assertion AS assertion, i.kind AS kind, i.accepted AS accepted,
       collect(DISTINCT {id: p.id, title: p.title, image: p.image_urls[0]}) AS products
