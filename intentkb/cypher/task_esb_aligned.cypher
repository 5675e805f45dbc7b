// The products each step of a page of scripts is aligned with (Step -ALIGNED-> Intention -> Product).
// params: $scripts (list of script ids)
MATCH (c:Script)-[:HAS_STEP]->(s:Step)-[a:ALIGNED]->(i:Intention)-[:EXPLAINS|AT]->(p:Product)
WHERE c.id IN $scripts
RETURN c.id AS script, s.id AS step, p.id AS product, p.title AS title, p.image_urls[0] AS image, i.id AS intention,
       a.score AS score
ORDER BY script, step, score DESC, product
