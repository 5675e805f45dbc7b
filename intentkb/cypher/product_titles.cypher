// Titles of products by id (retrieve's direct path).  params: $ids
UNWIND $ids AS pid
MATCH (p:Product {id: pid})
RETURN p.id AS id, p.title AS title
