"""The knowledge-quality report: duplicates, genericness, diversity, schema, coverage, critic scores."""
