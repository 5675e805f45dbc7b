// A vector index of the graph: its state, what it covers and its dimensions.  params: $index
SHOW VECTOR INDEXES YIELD name, state, labelsOrTypes, properties, options
WHERE name = $index
RETURN name, state, labelsOrTypes AS labels, properties, options.indexConfig['vector.dimensions'] AS dimensions
