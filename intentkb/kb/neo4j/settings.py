"""How intentkb reaches a Neo4j server beyond its URI: the user, password and database, from the
environment (INTENTKB_NEO4J_USER / _PASSWORD / _DATABASE, or the driver's own NEO4J_* names) or
from `Settings(engine={...})` in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ...config import Settings, _env
from ...errors import StoreError


class Neo4jSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_default=True)  # `engine` may hold another engine's keys; env values are checked too

    user: str = Field(default_factory=lambda: _env("INTENTKB_NEO4J_USER", "NEO4J_USER", "NEO4J_USERNAME", default="neo4j") or "neo4j")
    password: SecretStr = Field(default_factory=lambda: SecretStr(_env("INTENTKB_NEO4J_PASSWORD", "NEO4J_PASSWORD", default="") or ""))
    database: str | None = Field(default_factory=lambda: _env("INTENTKB_NEO4J_DATABASE", "NEO4J_DATABASE"))

    @classmethod
    def of(cls, settings: Settings) -> Neo4jSettings:
        try:
            return cls.model_validate(settings.engine)
        except ValidationError as e:
            raise StoreError(f"settings of the Neo4j: {e.errors()[0]['msg']}") from None
