"""`intentkb serve`: the knowledge base over HTTP, with the model and indexes loaded once."""
