// How many of a script's steps exist and how many carry ALIGNED edges.  params: $script
MATCH (c:Script {id: $script})-[:HAS_STEP]->(s:Step)
OPTIONAL MATCH (s)-[a:ALIGNED]->(:Intention)
WITH s, count(a) AS links
RETURN count(s) AS steps, sum(CASE WHEN links > 0 THEN 1 ELSE 0 END) AS aligned
