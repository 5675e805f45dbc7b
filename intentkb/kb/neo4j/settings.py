"""How intentkb reaches a Neo4j server beyond its URI: the user, password and database, from the
environment (INTENTKB_NEO4J_USER / _PASSWORD / _DATABASE, or the driver's own NEO4J_* names) or
from `Settings(engine={...})` in Python."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ...config import EngineSettings, _env


class Neo4jSettings(EngineSettings):
    what = "Neo4j store"

    user: str = Field(default_factory=lambda: _env("INTENTKB_NEO4J_USER", "NEO4J_USER", "NEO4J_USERNAME", default="neo4j") or "neo4j")
    password: SecretStr = Field(default_factory=lambda: SecretStr(_env("INTENTKB_NEO4J_PASSWORD", "NEO4J_PASSWORD", default="") or ""))
    database: str | None = Field(default_factory=lambda: _env("INTENTKB_NEO4J_DATABASE", "NEO4J_DATABASE"))
