"""Embeddings, FAISS indexes, step–intention alignment and product retrieval."""
