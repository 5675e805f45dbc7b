"""The supervisor's record and life cycle, shared by the supervisor process and every store: the
state file (`falkordb/supervisor.json`: the supervisor's pid and each restart with its reason and
how long it took), the lock a running supervisor holds, starting and stopping that process, and
what the server's log says about how its last run ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import QueryRefused, StoreError
from ...private import private_open, private_write_text
from .locks import flocked, held_elsewhere

POLL = 0.2
DEFAULT_GRACE = 3.0
EVENTS_KEPT = 50
QUARANTINE = 600  # seconds a query shape that had the server restarted is refused
BREAKER_RESTARTS = 3  # restarts brought about by outside queries within BREAKER_WINDOW ...
BREAKER_WINDOW = 60.0
BREAKER_PAUSE = 30.0  # ... pause outside queries this long after the last of them
STATE_FILE = "supervisor.json"
LOCK_FILE = "supervisor.lock"


def read_state(server_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((server_dir / STATE_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def update_state(server_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Read, change and write the state file under a lock (the supervisor and clients both write)."""
    with flocked(server_dir / "supervisor.state.lock"):
        state = read_state(server_dir)
        change(state)
        tmp = server_dir / (STATE_FILE + f".{os.getpid()}.tmp")
        private_write_text(tmp, json.dumps(state))
        os.replace(tmp, server_dir / STATE_FILE)


class OutsidePaused(StoreError):
    """Outside queries are paused for `retry_after` seconds (the breaker); nothing was sent."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreRestarted(StoreError):
    """The server went down while the query ran, and was started again: nothing it acknowledged
    is lost, but this query's answer is (an HTTP API says 503)."""


def record_event(server_dir: Path, event: dict[str, Any]) -> None:
    """Add a restart to the record before it happens (a client that lost its connection reads it).
    A restart that an outside query brought about (`sha`: stuck; `suspects`: running at a death)
    also counts for the breaker, and a stuck query's shape is quarantined; both are kept apart
    from the events, so a flood of restarts cannot push them out of the record."""

    def add(state: dict[str, Any]) -> None:
        now = float(event.get("at", time.time()))
        state["events"] = [*state.get("events", []), event][-EVENTS_KEPT:]
        state["restarts"] = int(state.get("restarts", 0)) + 1
        if event.get("sha") or event.get("suspects"):
            state["outside"] = [t for t in state.get("outside", []) if now - t < BREAKER_WINDOW] + [now]
        if event.get("sha"):
            kept = {k: t for k, t in (state.get("quarantine") or {}).items() if now - t < QUARANTINE}
            state["quarantine"] = {**kept, str(event["sha"]): now}

    update_state(server_dir, add)


def quarantined(server_dir: Path, fp: str) -> None:
    """Refuse a query whose shape had the server restarted less than QUARANTINE seconds ago."""
    at = (read_state(server_dir).get("quarantine") or {}).get(fp)
    if at is not None and time.time() - float(at) < QUARANTINE:
        raise QueryRefused(
            f"query refused: a query of this shape had the embedded server restarted {time.time() - float(at):.0f} s ago "
            f"(it ran past its deadline); such queries are refused for {QUARANTINE} s: change it (narrow it, or avoid the expression that does not stop)"
        )


def check_breaker(server_dir: Path) -> None:
    """Pause outside queries after BREAKER_RESTARTS restarts within BREAKER_WINDOW that outside
    queries brought about: however each one differs, a client cannot restart the server more than
    a few times a minute, and intentkb's own work (retrieval, pipelines, loads) goes on meanwhile."""
    recent = [float(t) for t in read_state(server_dir).get("outside", []) if time.time() - float(t) < BREAKER_WINDOW]
    if len(recent) >= BREAKER_RESTARTS:
        wait = max(recent) + BREAKER_PAUSE - time.time()
        wait = max(wait, min(recent) + BREAKER_WINDOW - time.time())
        if wait > 0:
            raise OutsidePaused(
                f"outside queries are paused for {wait:.0f} s: queries from outside (the console, the HTTP API) had the embedded server "
                f"restarted {len(recent)} times in the last minute; intentkb's own work goes on (see `intentkb store status`)",
                wait,
            )


def finish_event(server_dir: Path, at: float, **fields: Any) -> None:
    def update(state: dict[str, Any]) -> None:
        for e in state.get("events", []):
            if e.get("at") == at:
                e.update(fields)

    update_state(server_dir, update)


def events_since(server_dir: Path, since: float) -> list[dict[str, Any]]:
    """Restarts recorded at or after `since` (epoch seconds), oldest first."""
    return [e for e in read_state(server_dir).get("events", []) if e.get("at", 0) >= since]


def supervisor_running(server_dir: Path) -> bool:
    """True while a supervisor holds this directory's supervisor lock."""
    return (server_dir / LOCK_FILE).exists() and held_elsewhere(server_dir / LOCK_FILE)


def start_supervisor(server_dir: Path, grace: float, memory: int, module_args: str) -> None:
    """Start the supervisor of `server_dir` unless one runs (a second one would exit at once)."""
    if supervisor_running(server_dir):
        return
    with private_open(server_dir / "supervisor.log", "a") as log:
        subprocess.run(
            [sys.executable, "-m", "intentkb.kb.falkordb.supervisor", str(server_dir.parent), str(grace), str(memory), *module_args.split()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            timeout=30,
            check=False,
            umask=0o077,
        )
    deadline = time.monotonic() + 10
    while not supervisor_running(server_dir) and time.monotonic() < deadline:
        time.sleep(0.01)


def stop_supervisor(server_dir: Path) -> None:
    """End the supervisor before its server is stopped on purpose (it would start it again)."""
    pid = read_state(server_dir).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"intentkb.kb.falkordb.supervisor" not in cmd or str(server_dir.parent).encode() not in cmd:
        return  # the pid names someone else now
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while supervisor_running(server_dir) and time.monotonic() < deadline:
        time.sleep(0.01)


def running_fingerprints(server_dir: Path) -> list[str]:
    """The fingerprints of the outside queries holding a slot now: when the server dies, these
    are the suspects (kb/falkordb/slots.py writes them)."""
    found = []
    for path in sorted((server_dir / "slots").glob("*")):
        try:
            rec = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("sha"):
            found.append(str(rec["sha"]))
    return found


def death_reason(logfile: Path) -> str:
    """What the server's log says about how its last run ended, in one line."""
    try:
        with open(logfile, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 65536))
            tail = fh.read().decode(errors="replace")
    except OSError:
        return "the process ended (no log)"
    tail = tail[tail.rfind("Ready to accept connections") + 1 :]  # this run's lines only
    for mark in ("Out Of Memory allocating", "crashed by signal", "Guru Meditation", "Received SIGTERM", "Received SIGINT"):
        at = tail.rfind(mark)
        if at >= 0:
            line = tail[at:].splitlines()[0]
            return line.split("# ", 1)[-1].strip().rstrip("!")[:200]
    return "the process ended without a word in its log (killed by a signal?)"
