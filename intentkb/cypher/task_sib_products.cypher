// The products viewed in a page of sessions, with what a task prompt shows of them (and the first
// image, which `eval run --multimodal` sends to vision models).
// params: $sessions (list of session ids)
MATCH (s:Session)-[:VIEWED]->(p:Product)
WHERE s.id IN $sessions
RETURN DISTINCT p.id AS id, p.title AS title, p.brand AS brand, p.category AS category, p.price AS price,
       p.image_urls[0] AS image
