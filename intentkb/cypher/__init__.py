"""Every query as a named .cypher file, in the Cypher dialect shared by Neo4j and FalkorDB.

An engine whose dialect differs for one query keeps its own version in its folder
(`intentkb/kb/<engine>/cypher/<name>.cypher`, the store's `query_overrides` package): the loader
checks it before the shared file, so an engine joins without touching the shared queries."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from ..errors import IntentKBError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_query_name(text: str) -> bool:
    return bool(_NAME.match(text.strip()))


def _folders(overrides: str | None) -> list[Traversable]:
    own = resources.files(overrides) / "cypher" if overrides else None
    return [*([own] if own is not None and own.is_dir() else []), resources.files(__package__)]


@cache
def load(name: str, overrides: str | None = None) -> str:
    """The text of `name.cypher` (the engine package `overrides`' own version first); comment lines
    (`//`) are kept, the engines ignore them."""
    if not is_query_name(name):
        raise IntentKBError(f"not a query name: {name!r}")
    path = next((p for p in (f.joinpath(f"{name}.cypher") for f in _folders(overrides)) if p.is_file()), None)
    if path is None:
        import difflib

        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise IntentKBError(f"no named query {name!r}{hint} (see `intentkb cypher --list`)")
    return path.read_text(encoding="utf-8")


def names(overrides: str | None = None) -> list[str]:
    return sorted({p.name[: -len(".cypher")] for f in _folders(overrides) for p in f.iterdir() if p.name.endswith(".cypher")})


def resolve(query_or_name: str, overrides: str | None = None) -> str:
    """A bare lowercase identifier is a query name; anything else is Cypher text."""
    return load(query_or_name.strip(), overrides) if is_query_name(query_or_name) else query_or_name


# Queries the pipelines run for themselves (generation, ingest, indexing, alignment, task building,
# training, knowledge export, injection): `cypher --list` shows them only with --all.
INTERNAL_PREFIXES = ("gen_", "ingest_", "index_", "align_", "task_", "train_", "knowledge_", "inject_")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def is_internal(name: str) -> bool:
    return name.startswith(INTERNAL_PREFIXES)


def _code(text: str) -> str:
    """The query without its comment lines and string literals (a `$` in either is no parameter)."""
    code = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", code)


def parameters(text: str) -> list[str]:
    """The `$names` a query uses, in first-use order."""
    return list(dict.fromkeys(_PARAM.findall(_code(text))))


def summary(name: str) -> str:
    """The first comment line of a named query: what it returns."""
    first = next((ln for ln in load(name).splitlines() if ln.startswith("//")), "")
    return first.lstrip("/ ").strip()


def check_parameters(query_or_name: str, given: dict[str, object]) -> None:
    """A query run without one of its parameters fails with that parameter's name, not the engine's
    "Missing parameters"."""
    missing = [p for p in parameters(resolve(query_or_name)) if p not in given]
    if missing:
        hint = " ".join(f"-p {m}=VALUE" for m in missing)
        raise IntentKBError(f"missing parameter{'s' if len(missing) > 1 else ''} {', '.join('$' + m for m in missing)}: give {hint}")
