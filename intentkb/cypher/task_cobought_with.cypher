// Products co-bought with each of the given products, either direction.  params: $products
UNWIND $products AS k
MATCH (p:Product {id: k})-[:CO_BOUGHT]-(q:Product)
RETURN k AS product, collect(DISTINCT q.id) AS cobought
