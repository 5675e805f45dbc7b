"""One interface over the embedded FalkorDB server and Neo4j.

Values only ever reach Cypher as parameters; query text comes from the named `.cypher` files or
from the user's own `intentkb cypher` argument. Reads go through each engine's read-only path
(FalkorDB `GRAPH.RO_QUERY`, Neo4j READ access mode), so read-only is enforced by the server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from pydantic import BaseModel

from .. import cypher
from ..config import Settings
from ..errors import StoreError
from .guard import QueryLimits, ResultCaps, check_params, check_query_text
from .models import Label

Row = dict[str, Any]


class WriteStats(BaseModel):
    """What a write changed, as the server counted it: zero on a re-run of the same data."""

    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0
    nodes_deleted: int = 0
    relationships_deleted: int = 0

    def __iadd__(self, other: WriteStats) -> WriteStats:
        for k in type(self).model_fields:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self


def batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


@dataclass(frozen=True)
class PreparedWrite:
    """Write statements with their parameters already encoded for one store, run as one atomic
    transaction: built on one thread, sent on another, so preparing the next batch overlaps the
    server's work on this one."""

    statements: tuple[Any, ...]

    def __add__(self, other: PreparedWrite) -> PreparedWrite:
        return PreparedWrite(self.statements + other.statements)


class GraphNotEmpty(StoreError):
    """A bulk loader found data in the target graph (another writer came first)."""


@dataclass(frozen=True)
class NodeBatch:
    """`count` nodes of one label with properties `keys` (a row may lack some): `parts` are what the
    loader's `encode_rows` made of their rows, in order. Numbered from the loader's `next_id` on."""

    label: str
    keys: tuple[str, ...]
    parts: list[Any]
    count: int


@dataclass(frozen=True)
class EdgeBatch:
    """Edges of one type between node numbers, with at most one integer property per edge."""

    rel: str
    src: Any  # array-like of node numbers
    dst: Any
    prop: tuple[str, Any] | None = None


class BulkLoader(Protocol):
    """What the bulk path of `ingest` needs from an engine's loader (a context manager): nodes are
    numbered by the caller in creation order; nothing is visible until `commit()`. The rows reach it
    as plain dicts through `encode_rows`, a module-level function the ingest may run in worker
    processes (encoding is most of the work); its format is the engine's business."""

    next_id: int
    stats: WriteStats

    @staticmethod
    def encode_rows(keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Any: ...

    def __enter__(self) -> BulkLoader: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, nodes: Sequence[NodeBatch], edges: Sequence[EdgeBatch]) -> None: ...
    def check(self, samples: Mapping[int, str]) -> None: ...
    def commit(self) -> None: ...


class GraphStore(ABC):
    """`run` for queries, `write_rows` for `UNWIND $rows` batches, `setup_schema`, `close`."""

    kind: str = "abstract"
    default_batch_size: int = 5000  # records per write batch when the settings name none

    @property
    def query_overrides(self) -> str:
        """The package whose `cypher/` folder holds this engine's own versions of named queries
        (`intentkb/kb/<engine>/cypher/`): the engine's folder, found from its class."""
        return type(self).__module__.rpartition(".")[0]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wrote = False

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size or self.default_batch_size

    # -- queries ---------------------------------------------------------------------------
    def run(
        self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False, timeout: float | None = None, caps: ResultCaps | None = None
    ) -> list[Row]:
        """Run a named query or Cypher text; rows come back as plain dicts of plain values.

        Named queries are the project's own: they run under the engine's maximum time and are
        retried once if the engine restarts under them. Text from outside is bounded before it is
        sent (kb/guard.py: length, expression depth and cost, known range() sizes, parameter size),
        runs under `timeout` seconds (default `settings.query_timeout`) and returns at most `caps`
        (default the settings'); parameters are checked either way."""
        params = dict(params or {})
        if write:
            self.wrote = True
        if cypher.is_query_name(query):
            check_params(params)
            return self._run(cypher.load(query.strip(), self.query_overrides), params, write, timeout)
        limits = QueryLimits.of(self.settings)
        check_params(params, max_bytes=limits.max_param_bytes)
        check_query_text(query, limits, params)
        return self._run_outside(query, params, write, timeout or self.settings.query_timeout, caps or ResultCaps.of(self.settings))

    def _run_outside(self, text: str, params: dict[str, Any], write: bool, timeout: float, caps: ResultCaps) -> list[Row]:
        """An outside query: engines with their own admission and streaming override this."""
        rows = self._run(text, params, write, timeout)
        caps.check_rows(len(rows))
        return rows

    def health(self) -> dict[str, Any]:
        """The store's real state for `/health`: {"status": "ok" | "down", ...}."""
        try:
            self._run("RETURN 1 AS ok", {}, False, 5)
            return {"status": "ok", "engine": self.kind}
        except StoreError as e:
            return {"status": "down", "engine": self.kind, "detail": str(e)}

    def write_rows(
        self,
        query: str,
        rows: Iterable[Row],
        *,
        batch_size: int | None = None,
        params: Mapping[str, Any] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> WriteStats:
        """Send `rows` as `$rows` in batches; each batch is one atomic write on either store."""
        return self.write_batches(query, batched(rows, batch_size or self.batch_size), params=params, on_batch=on_batch)

    def write_batches(
        self, query: str, batches: Iterable[list[Row]], *, params: Mapping[str, Any] | None = None, on_batch: Callable[[int], None] | None = None
    ) -> WriteStats:
        total = WriteStats()
        for batch in batches:
            total += self.execute(self.prepare_write(query, {**(params or {}), "rows": batch}))
            if on_batch:
                on_batch(len(batch))
        return total

    def prepare_write(self, query: str, params: Mapping[str, Any]) -> PreparedWrite:
        return PreparedWrite(((cypher.resolve(query, self.query_overrides), dict(params)),))

    @abstractmethod
    def execute(self, prepared: PreparedWrite) -> WriteStats:
        """Run a prepared write: all its statements in one atomic transaction."""

    # -- life cycle ------------------------------------------------------------------------
    @abstractmethod
    def _run(self, text: str, params: dict[str, Any], write: bool, timeout: float | None = None) -> list[Row]:
        """`timeout` in seconds; None: the engine's longest (the project's own queries)."""

    @abstractmethod
    def setup_schema(self) -> None:
        """Indexes / uniqueness constraints on `id` of every label; safe to call repeatedly."""

    def checkpoint(self) -> None:
        """Make what was written cheap to recover (embedded: compact the AOF); no-op elsewhere."""

    # -- optional capabilities: callers ask instead of testing the store's class ------------
    def is_empty(self) -> bool:
        return not self._run("MATCH (n) RETURN 1 AS x LIMIT 1", {}, False)

    def bulk_loader(self) -> BulkLoader | None:
        """A loader that fills an empty graph without MERGE (None: this engine has none)."""
        return None

    def drop(self) -> None:
        """Delete every node and edge of this graph (engines with a faster way override this)."""
        self.run("MATCH (n) DETACH DELETE n", write=True)

    @abstractmethod
    def _close(self) -> None: ...

    def close(self) -> None:
        try:
            if self.wrote:
                self.checkpoint()
        finally:
            self._close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------
    def counts(self) -> dict[str, dict[str, int]]:
        """Nodes per label and edges per type: the figures `intentkb stats` prints."""
        labels = {r["label"]: r["count"] for r in self.run("count_labels") if r["label"] is not None}
        edges = {r["type"]: r["count"] for r in self.run("count_edge_types")}
        return {
            "nodes": {lab.value: int(labels.get(lab.value, 0)) for lab in Label} | {k: int(v) for k, v in labels.items()},
            "edges": {k: int(v) for k, v in sorted(edges.items())},
        }
