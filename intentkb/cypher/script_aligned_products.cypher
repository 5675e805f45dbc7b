// A script's steps with the products their ALIGNED intentions lead to (Script → Step → Intention → Product).
// params: $script
MATCH (c:Script {id: $script})-[:HAS_STEP]->(s:Step)-[a:ALIGNED]->(i:Intention)-[e:EXPLAINS|AT]->(p:Product)
RETURN s.id AS step, p.id AS product, p.title AS title, i.id AS intention, i.text AS intention_text, i.kind AS kind,
       type(e) AS via, a.score AS score
