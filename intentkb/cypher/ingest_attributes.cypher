// rows: {id, name, value}
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (t:Attribute {id: k})
ON CREATE SET t.name = r.name, t.value = r.value
