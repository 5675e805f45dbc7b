"""Admission control for queries from outside (console, HTTP API, agents): a few of the server's
threads for them, across every process of one data directory, so a short query always finds one.

The server has THREAD_COUNT query threads (6 by default). Outside queries take one of the
`long` slots (THREAD_COUNT - 3: three by default) for their whole run. When those are all taken, a
query may use the one `quick` slot, where it runs for at most QUICK_SECONDS; if it needs longer, it
waits for a long slot and runs again there. The two threads left answer intentkb's own queries
(retrieval, pipelines). A slot is a file under `falkordb/slots/`, held with flock by the process
running the query and holding its deadline; the supervisor reads these files to find a query that
outlived its deadline, and a slot whose holder died with its query still running stays taken
until the supervisor has cleared it (kb/falkordb/supervisor.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...errors import StoreError
from ..cypher_lexer import fingerprint
from .locks import held_elsewhere

QUICK_SECONDS = 1.0
LONG_MEMORY = 600.0  # seconds a shape that outlasted the quick lane skips it
_POLL = 0.02


class SlotWaitTimeout(StoreError):
    """No slot came free before the query's deadline; nothing was sent."""


@dataclass
class Slot:
    name: str
    path: Path
    fh: IO[str]
    timeout: float  # seconds the query may run in this slot

    @property
    def quick(self) -> bool:
        return self.name.startswith("quick")

    def marker(self) -> str:
        """A comment the query carries, so the supervisor can find it in GRAPH.INFO."""
        return f"/*ikb:slot={self.name}*/ "


def thread_count(module_args: str) -> int:
    words = module_args.split()
    for key, value in zip(words[::2], words[1::2]):
        if key.upper() == "THREAD_COUNT" and value.isdigit():
            return int(value)
    return 6


class QuerySlots:
    """The slot files of one server directory."""

    def __init__(self, server_dir: Path, threads: int) -> None:
        self.dir = server_dir / "slots"
        self.long = [f"long-{i}" for i in range(max(1, threads - 3))]
        self.quick = ["quick-0"]

    def paths(self) -> list[Path]:
        return [self.dir / n for n in self.long + self.quick]

    def _try(self, name: str, timeout: float, query: str) -> Slot | None:
        path = self.dir / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return None
        if fh.read().strip():  # a holder died with its query still running: the supervisor clears it
            fh.close()
            return None
        now = time.time()
        fh.seek(0)
        fh.write(json.dumps({"pid": os.getpid(), "started": now, "deadline": now + timeout, "query": query[:200], "sha": fingerprint(query)}))
        fh.flush()
        return Slot(name, path, fh, timeout)

    @contextmanager
    def hold(self, timeout: float, query: str) -> Iterator[Slot]:
        slot = self.acquire(timeout, query)
        try:
            yield slot
        finally:
            release(slot)

    def acquire(self, timeout: float, query: str, *, quick_ok: bool = True) -> Slot:
        """A slot for a query of at most `timeout` seconds: a free long slot at once, else (with
        `quick_ok`) the quick slot for up to QUICK_SECONDS, in the order queries asked for it
        (a ticket), else the first long slot that comes free before the deadline; its `timeout`
        is then what is left. Without the queue, six clients looping on long queries took the
        quick lane in turns and a `RETURN 1` waited out its whole timeout."""
        from ...private import private_dir

        private_dir(self.dir)
        deadline = time.monotonic() + timeout
        slot = self._first(self.long, timeout, query)
        quick_ok = quick_ok and not self.known_long(query)
        ticket = _Ticket(self.dir) if slot is None and quick_ok else None
        try:
            while slot is None:
                left = deadline - time.monotonic()
                if ticket is not None and ticket.first():
                    slot = self._first(self.quick, min(left, QUICK_SECONDS), query)
                    if slot is not None:
                        break
                if left <= 0:
                    raise SlotWaitTimeout(
                        f"query not started: {len(self.long)} other outside queries ran for the whole {timeout:g} s this one may take "
                        "(at most that many run at once); try again, or raise --timeout"
                    )
                time.sleep(_POLL)
                slot = self._first(self.long, max(0.001, deadline - time.monotonic()), query)
        finally:
            if ticket is not None:
                ticket.close()
        return slot

    def known_long(self, query: str) -> bool:
        """Did a query of this shape outlast the quick lane in the last LONG_MEMORY seconds? Then
        it waits for a long slot at once: clients looping on long queries no longer queue for the
        quick lane ahead of a short one."""
        try:
            return time.time() - (self.dir / "long-shapes" / fingerprint(query)).stat().st_mtime < LONG_MEMORY
        except OSError:
            return False

    def mark_long(self, query: str) -> None:
        d = self.dir / "long-shapes"
        d.mkdir(mode=0o700, exist_ok=True)
        path = d / fingerprint(query)
        path.touch(mode=0o600)
        os.utime(path)

    def _first(self, names: list[str], timeout: float, query: str) -> Slot | None:
        for name in names:
            if (slot := self._try(name, timeout, query)) is not None:
                return slot
        return None


class _Ticket:
    """A place in the queue for the quick slot: a file named by the time it was taken, held with
    flock while its query waits (a ticket whose holder died is unlocked and passed over)."""

    def __init__(self, slots_dir: Path) -> None:
        self.queue = slots_dir / "quick-queue"
        self.queue.mkdir(mode=0o700, exist_ok=True)
        self.path = self.queue / f"{time.time_ns():020d}-{os.getpid()}-{threading.get_ident()}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self.fh = os.fdopen(fd, "r+")
        fcntl.flock(self.fh, fcntl.LOCK_EX)

    def first(self) -> bool:
        """Is this the oldest ticket whose holder still waits?"""
        for name in sorted(os.listdir(self.queue)):
            if name == self.path.name:
                return True
            other = self.queue / name
            if held_elsewhere(other):
                return False
            other.unlink(missing_ok=True)  # its holder is gone
        return True

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
        self.fh.close()


def release(slot: Slot) -> None:
    try:
        slot.fh.seek(0)
        slot.fh.truncate()
        slot.fh.flush()
    finally:
        slot.fh.close()  # closing releases the flock


def read_slot(path: Path) -> dict[str, Any] | None:
    """A slot file's record, or None when it is free (empty or unreadable)."""
    try:
        text = path.read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def holder_alive(path: Path) -> bool:
    """True while some process holds the slot's flock (its query has not come back yet)."""
    return held_elsewhere(path)


def clear(path: Path) -> None:
    """Free a slot whose holder died (its query ended or was stopped)."""
    try:
        with open(path, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fh.truncate()
    except (OSError, BlockingIOError):
        pass
