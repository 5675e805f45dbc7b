// rows: {id, props, items: [{pos, product, asin, locale}], viewed: ["pos|product", ...]}; unknown products get a stub to fill later.
// A session loaded again is the later record: VIEWED edges it no longer lists are removed first.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (s:Session {id: k})
SET s += r.props
WITH s, r
CALL {
  WITH s, r
  MATCH (s)-[v:VIEWED]->(old:Product)
  WHERE NOT (toString(v.pos) + '|' + old.id) IN r.viewed
  DELETE v
}
WITH s, r
UNWIND r.items AS it
WITH s, it, it.product AS pk
MERGE (p:Product {id: pk})
ON CREATE SET p.asin = it.asin, p.locale = it.locale
MERGE (s)-[:VIEWED {pos: it.pos}]->(p)
