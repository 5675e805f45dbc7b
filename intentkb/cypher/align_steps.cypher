// Step–intention alignment (EcomScriptBench: cosine ≥ threshold).  rows: {step, links: [{intention, score}]}
UNWIND $rows AS r
UNWIND r.links AS l
WITH r.step AS ks, l.intention AS ki, l.score AS score
MATCH (s:Step {id: ks})
MATCH (i:Intention {id: ki})
MERGE (s)-[a:ALIGNED]->(i)
SET a.score = score
