// Products reached from the intentions found near each step's text (for hard negatives), one query
// for a page of steps.  params: $hits: [{step, id (intention), score}]
UNWIND $hits AS h
WITH h.step AS step, h.id AS ki, h.score AS score
MATCH (i:Intention {id: ki})-[e:EXPLAINS|AT]->(p:Product)
RETURN step, p.id AS product, p.title AS title, p.image_urls[0] AS image, ki AS intention, i.text AS intention_text, i.kind AS kind,
       type(e) AS via, score
