// Co-buy intentions of a product pair (either order), optionally of one relation and only kept ones.
// params: $a, $b, $relation (null for all), $accepted_only (bool)
MATCH (a:Product {id: $a})<-[:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(b:Product {id: $b})
WHERE i.kind = 'cobuy'
  AND ($relation IS NULL OR i.relation = $relation)
  AND ($accepted_only = false OR i.accepted = true)
RETURN i.relation AS relation, i.id AS id, i.text AS text, i.assertion AS assertion,
       i.accepted AS accepted, i.filter_reason AS filter_reason
ORDER BY relation, id
