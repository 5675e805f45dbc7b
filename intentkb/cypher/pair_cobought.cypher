// Whether the graph records two products as bought together (either direction).  params: $a, $b
MATCH (a:Product {id: $a}), (b:Product {id: $b})
RETURN exists((a)-[:CO_BOUGHT]-(b)) AS co_bought
