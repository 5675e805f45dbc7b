// rows: {id, props, items: [{pos, product, asin, locale}]}; unknown products get a stub to fill later.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (s:Session {id: k})
SET s += r.props
WITH s, r
UNWIND r.items AS it
WITH s, it, it.product AS pk
MERGE (p:Product {id: pk})
ON CREATE SET p.asin = it.asin, p.locale = it.locale
MERGE (s)-[:VIEWED {pos: it.pos}]->(p)
