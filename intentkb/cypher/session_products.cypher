// The products of one session in viewing order.  params: $session
MATCH (s:Session {id: $session})-[v:VIEWED]->(p:Product)
RETURN v.pos AS pos, p.id AS id, p.title AS title, p.category AS category
ORDER BY pos
