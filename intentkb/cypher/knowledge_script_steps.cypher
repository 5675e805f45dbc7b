// For a page of scripts: each step's products along Step -ALIGNED-> Intention -> Product
// (best alignment score first, ties by product id), with the intention that leads there.
// params: $scripts (list of script ids)
MATCH (c:Script)-[:HAS_STEP]->(s:Step)-[a:ALIGNED]->(i:Intention)-[:EXPLAINS|AT]->(p:Product)
WHERE c.id IN $scripts
WITH c, s, a, i, p
ORDER BY a.score DESC, p.id
RETURN c.id AS script, s.id AS step,
       collect({product: p.id, title: p.title, intention: i.id, accepted: i.accepted, score: a.score}) AS products
ORDER BY script, step
