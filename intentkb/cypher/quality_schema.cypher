// Schema adherence: nodes missing a required property, and intentions or steps whose links are
// not the shape the schema says (a co-buy intention explains exactly two products by role a and b,
// a purchase intention at least one product, a step belongs to a script).
MATCH (n)
WHERE n.id IS NULL
   OR (n:Intention AND (n.text IS NULL OR n.kind IS NULL))
   OR (n:Step AND (n.text IS NULL OR n.idx IS NULL))
   OR (n:Attribute AND (n.name IS NULL OR n.value IS NULL))
RETURN 'missing required property' AS problem, labels(n)[0] AS label, count(n) AS n
UNION ALL
MATCH (i:Intention)
WHERE i.kind = 'cobuy'
OPTIONAL MATCH (i)-[r:EXPLAINS]->(:Product)
WITH i, count(DISTINCT r.role) AS roles, count(r) AS links
WHERE roles <> 2 OR links <> 2
RETURN 'co-buy intention without its two products' AS problem, 'Intention' AS label, count(i) AS n
UNION ALL
MATCH (i:Intention)
WHERE i.kind = 'purchase' AND NOT (i)-[:EXPLAINS]->(:Product)
RETURN 'purchase intention without a product' AS problem, 'Intention' AS label, count(i) AS n
UNION ALL
MATCH (s:Step)
WHERE NOT (:Script)-[:HAS_STEP]->(s)
RETURN 'step without its script' AS problem, 'Step' AS label, count(s) AS n
