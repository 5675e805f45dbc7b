"""Neo4j 5 through the official driver: managed transactions (the driver retries transient errors,
so every transaction function here is an idempotent MERGE batch), READ access mode for reads."""

from __future__ import annotations

from typing import Any

from ...config import Settings
from ...errors import QueryTimedOut, ReadOnlyViolation, StoreError
from ..guard import ResultCaps, ResultTooLarge
from ..models import Label
from ..store import GraphStore, PreparedWrite, Row, WriteStats
from .settings import Neo4jSettings


def _plain(value: Any) -> Any:
    from neo4j.graph import Node, Path, Relationship

    if isinstance(value, (Node, Relationship)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return [_plain(n) for n in value.nodes]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _stats(counters: Any) -> WriteStats:
    return WriteStats(
        nodes_created=counters.nodes_created,
        relationships_created=counters.relationships_created,
        properties_set=counters.properties_set,
        nodes_deleted=counters.nodes_deleted,
        relationships_deleted=counters.relationships_deleted,
    )


def _failure(e: Any, timeout: float) -> StoreError:
    """Neo4j's refusal as one line that says which limit was hit."""
    code = getattr(e, "code", "") or ""
    msg = getattr(e, "message", None) or str(e)
    if "TransactionTimedOut" in code or "timed out" in msg.lower() or "terminated" in msg.lower():
        return QueryTimedOut(f"query timed out after {timeout:g} s: raise it with `intentkb cypher --timeout SECONDS` or INTENTKB_QUERY_TIMEOUT")
    if "MemoryPoolOutOfMemory" in code or "memory" in msg.lower():
        return StoreError(f"query stopped: it needed more memory than the server allows a transaction (db.memory.transaction.max): {msg}")
    return StoreError(f"query failed: {msg}")


class Neo4jStore(GraphStore):
    kind = "neo4j"
    default_batch_size = 20_000  # bench/neo4j_scale.py, 0.1 scale: 10.3k intentions/s against 6.7k at 5,000

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        import neo4j

        conf = Neo4jSettings.of(settings)

        self._neo4j = neo4j
        try:
            # Notifications off: the server warns about every property key a query reads before any
            # node has it (a fresh graph), and the driver logs each warning to stderr.
            self.driver = neo4j.GraphDatabase.driver(
                settings.graph_uri, auth=(conf.user, conf.password.get_secret_value()), notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF
            )
            self.driver.verify_connectivity()
        except Exception as e:
            raise StoreError(f"cannot reach Neo4j at {settings.graph_uri}: {type(e).__name__}: {e}") from e
        self.database = conf.database

    def _session(self, write: bool):
        mode = self._neo4j.WRITE_ACCESS if write else self._neo4j.READ_ACCESS
        return self.driver.session(database=self.database, default_access_mode=mode)

    def _run(self, text: str, params: dict[str, Any], write: bool, timeout: float | None = None) -> list[Row]:
        def work(tx: Any) -> list[Row]:
            return [{k: _plain(v) for k, v in rec.items()} for rec in tx.run(text, params)]

        if timeout is not None:
            work = self._neo4j.unit_of_work(timeout=timeout)(work)

        try:
            with self._session(write) as s:
                return s.execute_write(work) if write else s.execute_read(work)
        except self._neo4j.exceptions.ClientError as e:
            if not write and ("AccessMode" in (e.code or "") or "read access mode" in str(e)):
                raise ReadOnlyViolation("this query writes to the graph; pass --write (Python: write=True) to allow it") from e
            raise StoreError(f"query failed: {e.message or e}") from e

    def _run_outside(self, text: str, params: dict[str, Any], write: bool, timeout: float, caps: ResultCaps) -> list[Row]:
        """An outside query: under its timeout (the server ends the transaction), its rows counted
        and sized as they stream in; past either cap the result is dropped (the server stops the
        query) and nothing of it is returned. A transient error is not retried: it may be a bomb."""

        def work(tx: Any) -> list[Row]:
            rows: list[Row] = []
            size = 0
            for rec in tx.run(text, params):
                row = {k: _plain(v) for k, v in rec.items()}
                rows.append(row)
                size += len(repr(row))
                if len(rows) > caps.max_rows:
                    caps.check_rows(len(rows))
                if size > caps.max_bytes:
                    raise ResultTooLarge(
                        f"result refused: more than {caps.max_bytes:,} bytes; the limit is {caps.max_bytes:,}: add LIMIT or return fewer properties"
                    )
            return rows

        neo4j = self._neo4j
        try:
            with self._session(write) as s, s.begin_transaction(timeout=timeout) as tx:
                rows = work(tx)
                if write:
                    tx.commit()
                else:
                    tx.rollback()
                return rows
        except neo4j.exceptions.ClientError as e:
            if not write and ("AccessMode" in (e.code or "") or "read access mode" in str(e)):
                raise ReadOnlyViolation("this query writes to the graph; pass --write (Python: write=True) to allow it") from e
            raise _failure(e, timeout) from e
        except (neo4j.exceptions.TransientError, neo4j.exceptions.DatabaseError) as e:
            raise _failure(e, timeout) from e

    def execute(self, prepared: PreparedWrite) -> WriteStats:
        self.wrote = True

        def work(tx: Any) -> WriteStats:
            total = WriteStats()
            for text, params in prepared.statements:
                total += _stats(tx.run(text, params).consume().counters)
            return total

        try:
            with self._session(True) as s:
                return s.execute_write(work)
        except self._neo4j.exceptions.Neo4jError as e:
            raise StoreError(f"write failed: {e.message or e}") from e

    def setup_schema(self) -> None:
        for label in Label:
            self._run(f"CREATE CONSTRAINT intentkb_{label.value.lower()}_id IF NOT EXISTS FOR (n:{label.value}) REQUIRE n.id IS UNIQUE", {}, True)

    def _close(self) -> None:
        self.driver.close()
