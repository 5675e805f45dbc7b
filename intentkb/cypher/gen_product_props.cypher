// rows: {id, props}: properties of products (extracted features, pipeline markers).
UNWIND $rows AS r
MATCH (p:Product {id: r.id})
SET p += r.props
