// Which of these intention ids exist, with their text (resuming a tree).  params: $ids
UNWIND $ids AS k
MATCH (i:Intention {id: k})
RETURN i.id AS id, i.text AS text
