// Products that scored intentions lead to: co-buy/purchase intentions EXPLAIN them, session
// intentions were formed AT them.  params: $hits: [{id, score}]
UNWIND $hits AS h
WITH h.id AS ki, h.score AS score
MATCH (i:Intention {id: ki})-[e:EXPLAINS|AT]->(p:Product)
RETURN p.id AS product, p.title AS title, ki AS intention, i.text AS intention_text, i.kind AS kind,
       type(e) AS via, score
