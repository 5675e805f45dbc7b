"""The supervisor of one embedded server: a small process beside it that restarts it when it dies
and when a query outlives its deadline, without waiting for a user's command.

Why a process of its own: FalkorDB's query timeout does not cover parsing, and some expressions
neither stop at the timeout nor respect QUERY_MEM_CAPACITY (a `reduce` that grows a string ran 7
minutes past a 10 s timeout; `[x IN range(1,100000) | range(1,100000)]` makes the server abort).
Such a query holds a server thread for good, and four of them stall every client, including
clients that come after the ones that sent them are gone; a server that aborted stays down for a
long-running `intentkb serve` until something restarts it. A thread inside one client cannot see
another client's query, nor outlive its own client; this process sees every outside query through
its slot file (kb/falkordb/slots.py) and the server through its pid file.

Every POLL seconds: a server whose process is gone but whose pid file remains (a clean shutdown
removes it) died: it is started again from its own files (the AOF is fsynced before every reply,
so nothing acknowledged is lost). A slot whose deadline plus GRACE has passed, while its holder
still waits or its query still runs (GRAPH.INFO), is a stuck query: the server is killed and
started again, which is the only way to stop it. Each restart is an event in
`falkordb/supervisor.json` (reason, the query, how long the restart took), which the client whose
query was stopped reads to say what happened, and which `/health` reports. It ends when its
server is stopped on purpose or its directory disappears.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

from .locks import held_elsewhere
from .server import EmbeddedServer
from .settings import module_args as full_args
from .slots import QuerySlots, clear, holder_alive, read_slot, thread_count
from .supervision import DEFAULT_GRACE, LOCK_FILE, POLL, death_reason, finish_event, record_event, running_fingerprints, update_state

_ORPHAN_CHECK_EVERY = 1.0
_MEMORY_CHECK_EVERY = 2.0


class Supervisor:
    def __init__(self, data_dir: Path, module_args: str, grace: float = DEFAULT_GRACE, memory: int | None = None) -> None:
        self.server = EmbeddedServer(data_dir, module_args, grace, memory)
        self.slots = QuerySlots(self.server.dir, thread_count(full_args(module_args)))
        self.grace = grace
        self.handled: set[tuple[str, float]] = set()
        self.next_orphan_check = 0.0
        self.next_memory_check = 0.0
        self.last_pid: int | None = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        with open(self.server.dir / LOCK_FILE, "a+") as lock:  # held for the supervisor's whole life
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another supervisor watches this directory
            self._loop()

    def _loop(self) -> None:
        self._save({"pid": os.getpid(), "since": time.time()})
        while self.server.dir.is_dir():
            time.sleep(POLL)
            try:
                if not self.check():
                    return
            except Exception as e:  # a round that failed is retried next round; say why once
                print(f"supervisor: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        pid = self.last_pid  # the directory was removed under a running server: end it too
        if pid is not None and self.server._alive(pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def check(self) -> bool:
        """One round; False when the server was stopped on purpose (the supervisor then ends)."""
        srv = self.server
        pid = srv._pid()
        if pid is not None:
            self.last_pid = pid
        if pid is None:
            if not srv.pidfile.exists() and not srv.socket.exists():
                return self._busy_lock()  # stopped cleanly, unless a start is under way right now
            if self._busy_lock():
                return True  # someone is starting or stopping it at this moment
            self._restart(f"the server died: {death_reason(srv.logfile)}", suspects=running_fingerprints(srv.dir))
            return True
        now = time.time()
        orphans_due = now >= self.next_orphan_check
        if now >= self.next_memory_check and all(read_slot(p) is None for p in self.slots.paths()):
            self.server.limit_memory()  # follows the graph while no outside query runs
            self.next_memory_check = now + _MEMORY_CHECK_EVERY
        for path in self.slots.paths():
            rec = read_slot(path)
            if rec is None:
                continue
            key = (path.name, float(rec.get("started", 0)))
            alive = holder_alive(path)
            overdue = now > float(rec.get("deadline", 0)) + self.grace
            if overdue and key not in self.handled and (alive or self._running(path.name)):
                self.handled.add(key)
                took = float(rec.get("deadline", now)) - float(rec.get("started", now))
                self._restart(
                    f"a query ran {now - float(rec.get('started', now)):.1f} s, past its {took:g} s limit and {self.grace:g} s of grace "
                    "(parsing and some expressions do not stop at the timeout); the server was restarted to stop it",
                    slot=path.name,
                    query=str(rec.get("query", "")),
                    sha=str(rec.get("sha", "")),
                )
            if not alive and (overdue or (orphans_due and not self._running(path.name))):
                clear(path)  # its holder died; its query has ended or was stopped
        if orphans_due:
            self.next_orphan_check = now + _ORPHAN_CHECK_EVERY
        return True

    # -- helpers -----------------------------------------------------------------------------------
    def _busy_lock(self) -> bool:
        return held_elsewhere(self.server.lockfile)

    def _running(self, slot: str) -> bool:
        """Is the query of `slot` still running or queued in the server (GRAPH.INFO)?"""
        marker = f"ikb:slot={slot}*/".encode()
        try:
            with self.server.client(timeout=5) as c:
                info = c.execute_command("GRAPH.INFO")
        except (redis.exceptions.RedisError, OSError):
            return True  # cannot tell: keep the slot taken
        for section in info[1::2] if isinstance(info, list) else []:
            for entry in section if isinstance(section, list) else []:
                if isinstance(entry, list) and any(isinstance(v, bytes) and marker in v for v in entry):
                    return True
        return False

    def _restart(self, reason: str, **extra: object) -> None:
        at = time.time()
        t0 = time.monotonic()
        record_event(self.server.dir, {"at": at, "reason": reason, "by": "supervisor", "outcome": "restarting", **extra})
        try:
            self.server.restart(supervise=False)
            outcome = "restarted"
        except Exception as e:
            outcome = f"restart failed: {e}"
        finish_event(self.server.dir, at, outcome=outcome, took=round(time.monotonic() - t0, 3))

    def _save(self, state: dict[str, Any]) -> None:
        update_state(self.server.dir, lambda s: s.update(state))


def main(argv: list[str]) -> None:
    """`python -m intentkb.kb.falkordb.supervisor DATA_DIR GRACE MEMORY [MODULE ARGS…]`, detached."""
    data_dir, grace, memory, args = Path(argv[0]), float(argv[1]), int(argv[2]), " ".join(argv[3:])
    if os.fork() > 0:  # the starter waits for this first process only; the supervisor is a grandchild
        os._exit(0)
    os.setsid()
    Supervisor(data_dir, args, grace, memory).run()


if __name__ == "__main__":
    main(sys.argv[1:])
