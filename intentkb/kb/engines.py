"""Which store a graph URI opens: one registration per engine, keyed by URI scheme.

Engines are named by import path and loaded on first use, so the base (`store.py`) never imports
an engine and opening the embedded store never imports the Neo4j driver (or the other way round).
An engine is its folder: the store class, its settings, its commands and a `cypher/` folder of its
own versions of named queries. Adding one is that folder plus a line in `ENGINES`, or, from another
package, an entry point: `[project.entry-points."intentkb.engines"] kuzu = "mypkg.kuzu:KuzuStore"`
(the name is the URI scheme) and, for its commands, one in `intentkb.commands`.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from ..config import Settings, is_embedded_uri
from ..errors import StoreError
from ..registry import load_entry, plugin_entries
from .store import GraphStore

log = logging.getLogger(__name__)

ENGINES: dict[str, str] = {
    "embedded": "intentkb.kb.falkordb:EmbeddedStore",
    **{s: "intentkb.kb.neo4j:Neo4jStore" for s in ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")},
}


# Each engine's own commands: a module with `attach(root)` (the embedded server's `store` group,
# Neo4j's `export neo4j-import`). They import click and the engine, nothing of the CLI package.
COMMANDS: tuple[str, ...] = ("intentkb.kb.falkordb.cli", "intentkb.kb.neo4j.cli")


def scheme_of(uri: str) -> str:
    """`embedded`, `embedded:…` and the empty URI are the embedded engine; else the part before `://`."""
    if is_embedded_uri(uri):
        return "embedded"
    return uri.split("://", 1)[0] if "://" in uri else uri


@lru_cache(maxsize=1)
def _plugin_engines() -> dict[str, str]:
    """The plugins' engines, with a warning (once a process) for each that can never be used."""
    plugins = plugin_entries("intentkb.engines")
    for scheme in sorted(set(plugins) & set(ENGINES)):
        log.warning("engine plugin %s for the scheme %r is not used: %r is intentkb's (%s)", plugins[scheme], scheme, scheme, ENGINES[scheme])
    for scheme in sorted(s for s in set(plugins) - set(ENGINES) if scheme_of(f"{s}://x") != s):
        log.warning("engine plugin %s for the scheme %r is not used: no URI has that scheme (lower case, and not embedded)", plugins[scheme], scheme)
    return plugins


def engines() -> dict[str, str]:
    """URI scheme -> "module:StoreClass": the built-in engines, then the installed plugins' (a plugin
    cannot take a built-in scheme)."""
    return {**_plugin_engines(), **ENGINES}


def commands() -> tuple[str, ...]:
    """Modules with `attach(root)`: the engines' own commands, then the installed plugins'."""
    return (*COMMANDS, *plugin_entries("intentkb.commands").values())


def store_class(uri: str) -> type[GraphStore]:
    scheme = scheme_of(uri)
    known = engines()
    target = known.get(scheme)
    if target is None:
        names = ", ".join(sorted({s.split("+")[0] for s in known}))
        raise StoreError(f"unsupported INTENTKB_GRAPH_URI {uri!r}: scheme {scheme!r} is not one of {names} (e.g. 'embedded' or bolt://host:7687)")
    cls: type[GraphStore] = load_entry(target)
    return cls


def open_store(settings: Settings | None = None) -> GraphStore:
    """The store `settings.graph_uri` selects: embedded (default) or Neo4j for `bolt://`/`neo4j://`."""
    settings = settings or Settings()
    return store_class(settings.graph_uri)(settings)
