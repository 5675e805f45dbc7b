// rows: {product: {id, props}, intention: {id, props}}: a purchase intention and the product it explains.
UNWIND $rows AS r
WITH r, r.product.id AS kp, r.intention.id AS ki
MERGE (p:Product {id: kp})
SET p += r.product.props
MERGE (i:Intention {id: ki})
SET i += r.intention.props
MERGE (i)-[:EXPLAINS {role: 'p'}]->(p)
