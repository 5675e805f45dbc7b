// Texts of intentions by id (retrieve reads them for the winning intentions only).  params: $ids
UNWIND $ids AS iid
MATCH (i:Intention {id: iid})
RETURN i.id AS id, i.text AS text
