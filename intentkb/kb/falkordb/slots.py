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
        `quick_ok`) the quick slot for up to QUICK_SECONDS, else the first long slot that comes free
        before the deadline; its `timeout` is then what is left."""
        from ...private import private_dir

        private_dir(self.dir)
        deadline = time.monotonic() + timeout
        slot = self._first(self.long, timeout, query)
        if slot is None and quick_ok:
            slot = self._first(self.quick, min(timeout, QUICK_SECONDS), query)
        while slot is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SlotWaitTimeout(
                    f"query not started: {len(self.long)} other outside queries ran for the whole {timeout:g} s this one may take "
                    "(at most that many run at once, so a short query always finds a thread); try again, or raise --timeout"
                )
            time.sleep(_POLL)
            slot = self._first(self.long, left, query)
        return slot

    def _first(self, names: list[str], timeout: float, query: str) -> Slot | None:
        for name in names:
            if (slot := self._try(name, timeout, query)) is not None:
                return slot
        return None


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
