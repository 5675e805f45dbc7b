// Each trajectory of one session with, per step, the intention, its valued attribute, rationale,
// comparison and the product viewed at that step.  params: $session
// (No pattern comprehension inside a list comprehension: FalkorDB 4.16 binds it wrongly.)
MATCH p = (s:Session {id: $session})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(leaf:Intention)
WHERE NOT (leaf)-[:BRANCH]->()
WITH s, leaf, nodes(p)[1..] AS path
UNWIND range(0, size(path) - 1) AS k
WITH s, leaf, k, path[k] AS n
OPTIONAL MATCH (n)-[:VALUES]->(a:Attribute)
OPTIONAL MATCH (n)-[:AT]->(q:Product)
WITH s, leaf, k, n, a, q
ORDER BY leaf.id, k
RETURN s.id AS session, leaf.id AS leaf,
       collect({id: n.id, step: n.step, text: n.text, rationale: n.rationale,
                attribute: CASE WHEN a IS NULL THEN null ELSE a.name + ': ' + a.value END,
                comparison_aspect: n.comparison_aspect, comparison: n.comparison,
                product: q.id, product_title: q.title}) AS steps
ORDER BY leaf
