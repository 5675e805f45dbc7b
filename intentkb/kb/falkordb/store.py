"""The embedded store: Cypher over the FalkorDB server that intentkb owns (see server.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any, TypeVar

import redis
from falkordb import FalkorDB
from falkordb.edge import Edge as FEdge
from falkordb.node import Node as FNode
from falkordb.path import Path as FPath
from falkordb.query_result import QueryResult
from redis.backoff import NoBackoff
from redis.retry import Retry

from ...config import Settings
from ...errors import QueryTimedOut, ReadOnlyViolation, StoreError
from ..cypher_lexer import fingerprint
from ..eager import bound_ranges
from ..guard import QueryRefused, ResultCaps
from ..models import Label
from ..store import GraphStore, PreparedWrite, Row, WriteStats
from . import capped
from .bulk import BulkLoad, text_of
from .locks import WriteLock, flocked
from .params import params_header
from .server import EmbeddedServer
from .settings import FalkorSettings, module_args
from .slots import QUICK_SECONDS, QuerySlots, Slot, release, thread_count
from .supervision import StoreRestarted, check_breaker, events_since, quarantined

T = TypeVar("T")

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """FalkorDB result values → plain Python (dicts, lists, scalars), like Neo4j's record.data()."""
    if type(value) in _SCALARS:  # most values: one set lookup instead of five isinstance checks
        return value
    if type(value) is list:
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    if isinstance(value, FNode):
        return dict(value.properties)
    if isinstance(value, FEdge):
        return dict(value.properties)
    if isinstance(value, FPath):
        return [_plain(n) for n in value.nodes()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


GRAPH_RO, GRAPH_RW = "GRAPH.RO_QUERY", "GRAPH.QUERY"


def _query_failure(msg: str, timeout: float | None, what: str = "query failed") -> StoreError:
    """The server's refusal as one line that says which limit to raise."""
    if "timed out" in msg.lower():
        limit = f" after {timeout:g} s" if timeout else ""
        return QueryTimedOut(
            f"query timed out{limit}: raise it with `intentkb cypher --timeout SECONDS` or INTENTKB_QUERY_TIMEOUT "
            "(the server's ceiling is TIMEOUT_MAX in INTENTKB_FALKORDB_ARGS)"
        )
    if "mem consumption exceeded" in msg.lower():
        return StoreError("query stopped: it needed more memory than the server allows a query (QUERY_MEM_CAPACITY in INTENTKB_FALKORDB_ARGS)")
    return StoreError(f"{what}: {msg}")


class _QuickLaneTooShort(Exception):
    """A query in the quick slot hit its short deadline while it had more time of its own."""


def _header_names(result: QueryResult) -> list[str]:
    return [h[1].decode() if isinstance(h[1], bytes) else str(h[1]) for h in result.header]


def _rows(res: QueryResult) -> list[Row]:
    names = _header_names(res) if res.header else []
    return [dict(zip(names, (_plain(v) for v in row))) for row in res.result_set]


_STAT_KEYS = {
    "nodes_created": "Nodes created",
    "relationships_created": "Relationships created",
    "properties_set": "Properties set",
    "nodes_deleted": "Nodes deleted",
    "relationships_deleted": "Relationships deleted",
}


def _stats(result: QueryResult) -> WriteStats:
    found: dict[str, int] = {}
    for line in result._raw_stats or []:  # lines like "Nodes created: 5"
        line = line.decode() if isinstance(line, bytes) else str(line)
        name, _, value = line.partition(": ")
        found[name] = int(float(value.split(" ")[0] or 0)) if value else 0
    return WriteStats(**{k: found.get(v, 0) for k, v in _STAT_KEYS.items()})


class EmbeddedStore(GraphStore):
    kind = "embedded"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        args = FalkorSettings.of(settings).args
        self.server = EmbeddedServer(settings.data_dir, args, grace=settings.query_grace)
        self.server.start()
        # No client-side retries: a closed connection means the server went down, and the store
        # decides what to do about that (_recovering), not redis-py's backoff (~4 s, then a replay).
        self.db = FalkorDB(unix_socket_path=str(self.server.socket), retry=Retry(NoBackoff(), 0))
        self.graph = self.db.select_graph(settings.graph_name)
        self.write_lock = WriteLock(self.server.dir / f"writers.{settings.graph_name}.lock")
        self.slots = QuerySlots(self.server.dir, thread_count(module_args(args)))
        self.timeout_max_ms = self._recovering(self._timeout_max)
        if not self._recovering(lambda: self.db.connection.exists(self.graph.name)):
            # FalkorDB refuses every read of a graph that does not exist yet ("empty key"), which
            # would also hide a write sent down the read-only path; the schema creates the graph.
            self._recovering(self.setup_schema)

    def _timeout_max(self) -> int:
        """The server's TIMEOUT_MAX in ms (0: none): the project's own queries ask for all of it."""
        try:
            reply = self.db.connection.execute_command("GRAPH.CONFIG", "GET", "TIMEOUT_MAX")
            return int(reply[1]) if reply and len(reply) > 1 else 0
        except (redis.exceptions.ResponseError, ValueError, TypeError):
            return 0

    def _timeout_args(self, timeout: float | None) -> list[Any]:
        ms = self.timeout_max_ms if timeout is None else int(timeout * 1000)
        if self.timeout_max_ms:
            ms = min(ms, self.timeout_max_ms)
        return ["timeout", max(1, ms)] if ms else []

    # -- the project's own queries: retried once when the server restarts under them ----------------
    def _recovering(self, call: Callable[[], T], attempts: int = 3) -> T:
        """Run `call`; if the server went down meanwhile, wait for it to be back (the supervisor, or
        this call, restarts it from its files) and run it again: own queries are reads or
        idempotent MERGE batches, so another run changes nothing the first one did. A few times,
        as the server may go down again while a bad query elsewhere is being stopped."""
        since = time.time()
        why = ""
        for _ in range(attempts):
            try:
                return call()
            except redis.exceptions.ConnectionError as e:
                why = self._back(since) or str(e)
        raise StoreError(f"the embedded server at {self.server.socket} went down {attempts} times while this ran (last: {why}); run it again")

    def _back(self, since: float) -> str:
        """Wait until the server answers again (starting it if nobody does); what happened to it."""
        reason = self.server.recover()
        events = events_since(self.server.dir, since - 1)
        return str(events[-1].get("reason")) if events else reason

    def _query(self, text: str, params: dict[str, Any], read_only: bool, timeout: float | None = None) -> QueryResult:
        command = [GRAPH_RO if read_only else GRAPH_RW, self.graph.name, params_header(params) + text, "--compact", *self._timeout_args(timeout)]
        try:
            return self._recovering(lambda: QueryResult(self.graph, self.db.connection.execute_command(*command)))
        except ValueError as e:  # a parameter the encoder cannot write (checked in GraphStore.run first)
            raise StoreError(f"query refused: {e}") from e
        except redis.exceptions.ResponseError as e:
            raise self._failure(e, read_only, timeout) from e

    @staticmethod
    def _failure(e: redis.exceptions.ResponseError, read_only: bool, timeout: float | None) -> StoreError:
        msg = str(e)
        if read_only and "read-only" in msg:
            return ReadOnlyViolation("this query writes to the graph; pass --write (Python: write=True) to allow it")
        return _query_failure(msg, timeout)

    def _run(self, text: str, params: dict[str, Any], write: bool, timeout: float | None = None) -> list[Row]:
        if write:
            with self.write_lock.shared():
                res = self._query(text, params, read_only=False, timeout=timeout)
        else:
            res = self._query(text, params, read_only=True, timeout=timeout)
        return _rows(res)

    # -- queries from outside: a slot, a connection of their own, capped replies --------------------
    def _run_outside(self, text: str, params: dict[str, Any], write: bool, timeout: float, caps: ResultCaps) -> list[Row]:
        check_breaker(self.server.dir)
        self._refuse_a_known_stopper(text)
        deadline = time.monotonic() + timeout
        slot = self.slots.acquire(timeout, text)
        try:
            return self._outside(slot, text, params, write, caps, more_time=deadline - time.monotonic() > slot.timeout)
        except _QuickLaneTooShort:
            self.slots.mark_long(text)
        finally:
            release(slot)
        slot = self.slots.acquire(max(0.001, deadline - time.monotonic()), text, quick_ok=False)
        try:
            return self._outside(slot, text, params, write, caps, more_time=False)
        finally:
            release(slot)

    def _outside(self, slot: Slot, text: str, params: dict[str, Any], write: bool, caps: ResultCaps, *, more_time: bool) -> list[Row]:
        since = time.time()
        wait = slot.timeout + self.server.grace + 5  # the supervisor acts at timeout + grace
        try:
            header = params_header(params)
            sent = bound_ranges(text, self.settings.query_max_range) if "range" in text.lower() else text
            command = [GRAPH_RW if write else GRAPH_RO, self.graph.name, header + slot.marker() + sent, "--compact", *self._timeout_args(slot.timeout)]
            with self.write_lock.shared() if write else nullcontext():
                reply = capped.call(str(self.server.socket), command, max_bytes=caps.max_bytes, timeout=wait)
            if isinstance(reply, redis.exceptions.ResponseError):
                raise reply
            result = QueryResult(self.graph, reply)
        except ValueError as e:
            raise StoreError(f"query refused: {e}") from e
        except redis.exceptions.ResponseError as e:
            if slot.quick and more_time and "timed out" in str(e).lower():
                raise _QuickLaneTooShort from None
            if sent != text and "step argument to range() can't be 0" in str(e):
                raise QueryRefused(
                    f"query stopped: a range() would have had more than {self.settings.query_max_range:,} elements "
                    "(INTENTKB_QUERY_MAX_RANGE): the server allocates a range whole"
                ) from None
            raise self._failure(e, not write, slot.timeout) from e
        except capped.NoAnswer:
            self.server.restart()  # the supervisor should have done this already
            raise StoreError(f"query stopped: no answer {wait:g} s after it was sent; the embedded server was restarted to end it") from None
        except redis.exceptions.ConnectionError:
            raise StoreRestarted(self._explain_restart(since, slot)) from None
        caps.check_rows(len(result.result_set))
        return _rows(result)

    def _refuse_a_known_stopper(self, text: str) -> None:
        """A query that outlived its deadline stalls a thread until the server restarts; sent in a
        loop it would restart the server every few seconds. So a query of the same shape
        (kb/cypher_lexer.fingerprint) is refused for a while after it stopped the server. Deaths
        are not attributed to one query (an innocent one may have been running): the breaker
        (supervision.check_breaker) bounds how often outside queries can bring the server down."""
        quarantined(self.server.dir, fingerprint(text))

    def _explain_restart(self, since: float, slot: Slot) -> str:
        why = self._back(since)
        ours = [e for e in events_since(self.server.dir, since - 1) if e.get("slot") == slot.name]
        if ours:
            e = ours[-1]
            return f"query stopped: {e.get('reason')} (back in {float(e.get('took', 0)):.1f} s; nothing the server acknowledged is lost)"
        return (
            f"query lost: the embedded server went down while it ran ({why}); it was restarted from its own files and "
            "nothing it acknowledged is lost; run the query again (if it is the one that brought the server down, narrow it)"
        )

    def health(self) -> dict[str, Any]:
        state = self.server.ping()
        info: dict[str, Any] = {"engine": self.kind, "server": state, "restarts": self.server.restarts()}
        if state != "ok":
            return {"status": "down" if state == "down" else "starting", **info}
        try:
            reply = capped.call(str(self.server.socket), [GRAPH_RO, self.graph.name, "RETURN 1", "timeout", 2000], max_bytes=4096, timeout=QUICK_SECONDS + 3)
            ok = not isinstance(reply, redis.exceptions.ResponseError)
        except (StoreError, redis.exceptions.ConnectionError):
            ok = False
        return {"status": "ok" if ok else "busy", **info}

    # -- writes ---------------------------------------------------------------------------------
    def prepare_write(self, query: str, params: Mapping[str, Any]) -> PreparedWrite:
        from ... import cypher

        return PreparedWrite((params_header(params) + cypher.resolve(query, self.query_overrides),))

    def execute(self, prepared: PreparedWrite) -> WriteStats:
        """One statement: GRAPH.QUERY. Several: MULTI/EXEC, which runs them with no other command in
        between and is logged to the AOF as one block (a block cut short by a crash is dropped)."""
        self.wrote = True
        with self.write_lock.shared():
            try:
                return self._recovering(lambda: self._execute(prepared))
            except redis.exceptions.ResponseError as e:
                raise _query_failure(str(e), None, "write failed") from e

    def _execute(self, prepared: PreparedWrite) -> WriteStats:
        limit = self._timeout_args(None)
        if len(prepared.statements) == 1:
            reply = self.db.connection.execute_command("GRAPH.QUERY", self.graph.name, prepared.statements[0], "--compact", *limit)
            return _stats(QueryResult(self.graph, reply))
        pipe = self.db.connection.pipeline(transaction=True)
        for text in prepared.statements:
            pipe.execute_command("GRAPH.QUERY", self.graph.name, text, "--compact", *limit)
        total = WriteStats()
        for reply in pipe.execute(raise_on_error=True):
            total += _stats(QueryResult(self.graph, reply))
        return total

    def _create_indexes(self, graph: str) -> bool:
        """Index `id` of every label of `graph` (creating the graph); True when one was created.
        Serialised across processes: two stores opening a new graph at once would both send CREATE
        INDEX, and the second one, queued behind the first's queries, lost its connection."""
        with flocked(self.server.dir / f"schema.{graph}.lock"):
            return self._create_indexes_locked(graph)

    def _create_indexes_locked(self, graph: str) -> bool:
        existing: set[tuple[str, str]] = set()
        conn = self.db.connection
        if conn.exists(graph):
            reply = conn.execute_command("GRAPH.RO_QUERY", graph, "CALL db.indexes() YIELD label, properties RETURN label, properties")
            existing = {(text_of(label), text_of(p)) for label, props in reply[1] for p in props}
        created = False
        for label in Label:
            if (label.value, "id") not in existing:
                try:
                    conn.execute_command("GRAPH.QUERY", graph, f"CREATE INDEX FOR (n:{label.value}) ON (n.id)")
                    created = True
                except redis.exceptions.ResponseError as e:
                    if "already indexed" not in str(e):
                        raise StoreError(f"index creation failed: {e}") from e
        return created

    def bulk_loader(self) -> BulkLoad:
        return BulkLoad(self)

    def drop(self) -> None:
        self.db.connection.delete(self.graph.name)

    def setup_schema(self) -> None:
        if self._create_indexes(self.graph.name):
            # Snapshot the indexes at once: replaying MERGEs from the AOF while an index is still
            # being built makes each one scan the graph (a crash before the first compaction then
            # took >10 min to restart after a 12 s load).
            self.server.compact()

    def checkpoint(self) -> None:
        self.server.compact()

    def _close(self) -> None:
        try:
            self.db.connection.close()
        except Exception:
            pass
