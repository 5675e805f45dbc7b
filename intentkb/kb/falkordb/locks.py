"""File locks of one data directory: writers share, the bulk path and index builds exclude."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def flocked(path: Path, *, exclusive: bool = True) -> Iterator[None]:
    """Hold an flock on `path` (created if missing) across processes; released on close."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # lock files are the user's alone too
    with os.fdopen(fd, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def held_elsewhere(path: Path) -> bool:
    """True while some other open file holds an flock on `path` (without waiting for it)."""
    try:
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except OSError:
        return False


class WriteLock:
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
