// Nodes per label (intentkb stats).
MATCH (n)
RETURN labels(n)[0] AS label, count(n) AS count
