// A session's products in viewing order with their attributes and images (tree prompts).  params: $session
MATCH (s:Session {id: $session})-[v:VIEWED]->(p:Product)
OPTIONAL MATCH (p)-[:HAS_ATTRIBUTE]->(a:Attribute)
WITH v.pos AS pos, p, collect(a.name + ': ' + a.value) AS attributes
RETURN pos, p.id AS id, p.title AS title, p.category AS category, p.image_urls AS image_urls, attributes
ORDER BY pos
