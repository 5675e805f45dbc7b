// Each trajectory of one session with, per step, the intention, its valued attribute, rationale,
// comparison and the product viewed at that step.  params: $session
MATCH p = (s:Session {id: $session})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(leaf:Intention)
WHERE NOT (leaf)-[:BRANCH]->()
RETURN s.id AS session,
       [n IN nodes(p)[1..] | {
          id: n.id, step: n.step, text: n.text, rationale: n.rationale,
          comparison_aspect: n.comparison_aspect, comparison: n.comparison,
          attribute: [(n)-[:VALUES]->(a:Attribute) | a.name + ': ' + a.value][0],
          product: [(n)-[:AT]->(q:Product) | q.id][0],
          product_title: [(n)-[:AT]->(q:Product) | q.title][0]
       }] AS steps
ORDER BY leaf.id
