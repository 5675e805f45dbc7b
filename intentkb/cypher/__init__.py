"""Every query as a named .cypher file, in the Cypher dialect shared by Neo4j and FalkorDB."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from ..errors import IntentKBError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_query_name(text: str) -> bool:
    return bool(_NAME.match(text.strip()))


@cache
def load(name: str) -> str:
    """The text of `name.cypher`; comment lines (`//`) are kept, the engines ignore them."""
    if not is_query_name(name):
        raise IntentKBError(f"not a query name: {name!r}")
    path = resources.files(__package__).joinpath(f"{name}.cypher")
    if not path.is_file():
        raise IntentKBError(f"no named query {name!r} (see `intentkb cypher --list`)")
    return path.read_text(encoding="utf-8")


def names() -> list[str]:
    return sorted(p.name[: -len(".cypher")] for p in resources.files(__package__).iterdir() if p.name.endswith(".cypher"))


def resolve(query_or_name: str) -> str:
    """A bare lowercase identifier is a query name; anything else is Cypher text."""
    return load(query_or_name.strip()) if is_query_name(query_or_name) else query_or_name
