"""The embedded engine: a FalkorDB server owned by intentkb (unix socket only) and its store.

Names are imported on first use: the CLI attaches this engine's `store` commands at start, and
the bulk loader's numpy and redis (0.1–0.2 s) must not be paid by every command that starts."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bulk import BulkLoad, GraphNotEmpty
    from .server import EmbeddedServer, ServerStatus
    from .settings import module_args
    from .store import EmbeddedStore
    from .supervision import OutsidePaused, StoreRestarted

_WHERE = {
    "BulkLoad": ".bulk",
    "GraphNotEmpty": ".bulk",
    "EmbeddedServer": ".server",
    "ServerStatus": ".server",
    "module_args": ".settings",
    "EmbeddedStore": ".store",
    "OutsidePaused": ".supervision",
    "StoreRestarted": ".supervision",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)


__all__ = ["BulkLoad", "EmbeddedServer", "EmbeddedStore", "GraphNotEmpty", "OutsidePaused", "ServerStatus", "StoreRestarted", "module_args"]
