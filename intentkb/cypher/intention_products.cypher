// Products that scored intentions lead to: co-buy/purchase intentions EXPLAIN them, session
// intentions were formed AT them. Ids only: of the many rows a query sends, retrieve keeps one per
// product, and reads titles and intention texts for those (product_titles, intention_texts).
// params: $hits: [{id, score, q}] (q: which query of a batch; returned as is)
UNWIND $hits AS h
WITH h.id AS ki, h.score AS score, h.q AS q
MATCH (i:Intention {id: ki})-[e:EXPLAINS|AT]->(p:Product)
RETURN p.id AS product, ki AS intention, i.kind AS kind, type(e) AS via, score, q
