// The (intention, product) links a retrieval is about to answer with, as the graph has them now,
// with the texts the answer shows: the link table beside the index is checked hit by hit (its
// counts cannot see an edge moved from one product to another).  params: $pairs: [{intention, product}]
UNWIND $pairs AS x
MATCH (i:Intention {id: x.intention})-[e:EXPLAINS|AT]->(p:Product {id: x.product})
RETURN DISTINCT x.intention AS intention, x.product AS product, i.text AS text, p.title AS title
