// Why two products are bought together: the co-buy intentions explaining the pair (either order), kept ones first.  params: $a, $b
MATCH (a:Product {id: $a})<-[:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(b:Product {id: $b})
WHERE i.kind = 'cobuy'
WITH DISTINCT i, CASE i.accepted WHEN true THEN 0 WHEN false THEN 2 ELSE 1 END AS verdict
RETURN i.id AS id, i.relation AS relation, i.text AS text, i.assertion AS assertion, i.rationale AS rationale,
       i.typicality AS typicality, i.accepted AS accepted, i.filter_reason AS filter_reason,
       i.critic_score AS critic_score, coalesce(i.source, i.model) AS source
ORDER BY verdict, relation, id
