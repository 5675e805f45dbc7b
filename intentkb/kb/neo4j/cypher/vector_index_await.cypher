// Wait until a vector index has caught up with the writes (populating → ONLINE).  params: $index, $seconds
CALL db.awaitIndex($index, $seconds)
