// Script steps with and without an aligned intention.
MATCH (s:Step)
OPTIONAL MATCH (s)-[:ALIGNED]->(i:Intention)
WITH s, count(i) AS n
RETURN count(s) AS steps, sum(CASE WHEN n = 0 THEN 1 ELSE 0 END) AS unaligned
