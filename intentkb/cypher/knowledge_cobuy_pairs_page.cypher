// Co-bought pairs after ($a, $b) in (a, b) id order, each once (a pair recorded both ways is
// taken as a < b), with every co-buy intention that explains both products.  params: $a, $b, $limit
MATCH (a:Product)-[:CO_BOUGHT]->(b:Product)
WHERE (a.id > $a OR (a.id = $a AND b.id > $b)) AND (a.id < b.id OR NOT (b)-[:CO_BOUGHT]->(a))
WITH a, b
ORDER BY a.id, b.id
LIMIT $limit
OPTIONAL MATCH (a)<-[ea:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(b)
WHERE i.kind = 'cobuy'
WITH a, b, i, ea
ORDER BY i.relation, i.id
RETURN a.id AS a, b.id AS b, a.title AS a_title, b.title AS b_title,
       [x IN collect({id: i.id, text: i.text, assertion: i.assertion, relation: i.relation, accepted: i.accepted,
                      a_role: ea.role}) WHERE x.id IS NOT NULL] AS intentions
ORDER BY a, b
