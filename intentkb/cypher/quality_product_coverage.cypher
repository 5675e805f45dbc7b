// How many products have how many intentions linked to them (0: no intention explains it).
MATCH (p:Product)
OPTIONAL MATCH (i:Intention)-[:EXPLAINS|AT]->(p)
WITH p, count(DISTINCT i) AS n
RETURN n AS intentions, count(p) AS products
ORDER BY intentions
