// Steps of a batch of scripts with the products their ALIGNED intentions lead to
// (Script → Step → Intention → Product); unaligned steps have no rows.  params: $scripts
UNWIND $scripts AS sid
MATCH (c:Script {id: sid})-[:HAS_STEP]->(s:Step)-[a:ALIGNED]->(i:Intention)-[e:EXPLAINS|AT]->(p:Product)
RETURN s.id AS step, p.id AS product, p.title AS title, i.id AS intention, i.text AS intention_text, i.kind AS kind,
       type(e) AS via, a.score AS score
