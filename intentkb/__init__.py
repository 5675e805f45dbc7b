"""intentkb: a knowledge graph of e-commerce purchase intentions."""

__version__ = "0.1.0"
