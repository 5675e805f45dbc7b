"""Graph model and stores: what the knowledge base holds and where."""
