// A vector index dropped (a rebuild with another model or other dimensions).  params: $index
DROP INDEX $index IF EXISTS
