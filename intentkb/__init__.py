"""intentkb: a knowledge graph of e-commerce purchase intentions.

The Python entry points, imported on first use (so `import intentkb` stays light):
`Settings` (where the knowledge base lives), `open_store(settings)` (its graph store), and
`ingest_file(store, kind, path)` (load a file of records)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Settings", "__version__", "ingest_file", "open_store"]

_LAZY = {"Settings": "intentkb.config", "open_store": "intentkb.kb.engines", "ingest_file": "intentkb.ingest"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'intentkb' has no attribute {name!r}")
