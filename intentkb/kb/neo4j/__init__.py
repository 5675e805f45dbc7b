"""Neo4j 5 through the official driver, and offline import files for neo4j-admin."""

from .store import Neo4jStore

__all__ = ["Neo4jStore"]
