"""The embedded engine: a FalkorDB server owned by intentkb (unix socket only) and its store."""

from .bulk import BulkLoad, GraphNotEmpty
from .server import EmbeddedServer, ServerStatus
from .settings import module_args
from .store import EmbeddedStore
from .supervision import OutsidePaused, StoreRestarted

__all__ = ["BulkLoad", "EmbeddedServer", "EmbeddedStore", "GraphNotEmpty", "OutsidePaused", "ServerStatus", "StoreRestarted", "module_args"]
