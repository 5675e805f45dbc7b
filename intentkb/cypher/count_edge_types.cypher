// Edges per type (intentkb stats).
MATCH ()-[e]->()
RETURN type(e) AS type, count(e) AS count
