"""Files that hold users' data (rejects, run records, caches, indexes) are the user's alone:
directories 0700, files 0600, whatever the umask. One helper for every writer under INTENTKB_HOME."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as 0700; an existing `path` is made 0700 too."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    st = path.stat()
    if (st.st_mode & 0o777) != DIR_MODE and st.st_uid == os.getuid():
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists as 0600 before a library (sqlite, faiss) opens or writes it."""
    private_dir(Path(path).parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return Path(path)


def private_open(path: Path, mode: str = "w", **kw: Any) -> IO[Any]:
    """`open(path, mode)` with the file created 0600 (truncated for "w", appended for "a")."""
    private_dir(Path(path).parent)
    flags = os.O_CREAT | (os.O_TRUNC | os.O_WRONLY if "w" in mode else os.O_APPEND | os.O_WRONLY)
    fd = os.open(path, flags, FILE_MODE)
    os.chmod(path, FILE_MODE)
    return os.fdopen(fd, mode, **kw)


@contextmanager
def owner_only() -> Iterator[None]:
    """Everything created meanwhile is the user's alone (umask 077), for writers that are not ours
    (torch's ONNX exporter, sentence-transformers' save, the demo's exports). The umask is the
    process's: other threads' files made meanwhile are private too, which errs the safe way."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def private_write_text(path: Path, text: str) -> None:
    with private_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


# Secrets in text that is about to be logged, stored or printed (an endpoint's error body that
# echoes the Authorization header, a base URL with credentials): shapes of credentials, plus the
# exact values a caller knows (the configured API key).
_SECRET_SHAPES = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]{6,}"), r"\1\2[redacted]"),
    (re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_-]{8,}"), r"\1-[redacted]"),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|x-api-key|authorization|password|secret)(\\?[\"']?\s*[:=]\s*\\?[\"']?(?:(?:bearer|basic)\s+)?)(?!\[redacted\]|(?:bearer|basic)\s)[^\s\"'\\,;}&]+"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(?i)(\w+://)[^/@\s:]*:[^/@\s]*@"), r"\1[redacted]@"),
)


_FRAGMENT = 8  # a run this long of a long secret is a piece of it: an echo may split or wrap it


@lru_cache(maxsize=32)
def _fragments(secret: str) -> re.Pattern[str] | None:
    """Any token that holds a run of _FRAGMENT characters of `secret` (secrets of 16 or more)."""
    if len(secret) < 2 * _FRAGMENT:
        return None
    runs = sorted({secret[i : i + _FRAGMENT] for i in range(len(secret) - _FRAGMENT + 1)})
    return re.compile(r"[^\s\"'<>]*(?:" + "|".join(map(re.escape, runs)) + r")[^\s\"'<>]*")


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """`text` with every known secret value, every piece of one (a token holding 8 characters of a
    long secret in a row) and every credential-shaped token replaced by [redacted]."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "[redacted]")
            if (pieces := _fragments(value)) is not None:
                text = pieces.sub("[redacted]", text)
    for pattern, repl in _SECRET_SHAPES:
        text = pattern.sub(repl, text)
    return text
