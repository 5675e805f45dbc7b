"""The persistent response cache: one SQLite row per usable reply, committed as it arrives.

Keyed by a hash of (model, messages, generation parameters, prompt template version), never by
anything secret. Only replies that parsed are stored, so a failure is retried on the next run and
a killed run loses at most the replies in flight."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..private import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    corrected INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


def cache_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], template: str) -> str:
    """sha256 over model, parameters, template version and every message. Text messages go in as
    role + text between separator bytes (no JSON encoding of long prompts on every cache hit);
    multimodal ones as canonical JSON."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model, "params": params, "template": template}, sort_keys=True, separators=(",", ":")).encode())
    for m in messages:
        content = m["content"]
        if isinstance(content, str) and len(m) == 2:
            h.update(b"\x1e" + m["role"].encode() + b"\x1f" + content.encode("utf-8"))
        else:
            h.update(b"\x1d" + json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def cacheable(params: dict[str, Any]) -> bool:
    """Greedy replies are reproducible; sampled ones only when a seed pins them."""
    return float(params.get("temperature", 1.0)) == 0.0 or params.get("seed") is not None


class CachedReply(BaseModel):
    reply: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    def __init__(self, path: Path) -> None:
        private_file(path)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a killed process
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute("SELECT reply, prompt_tokens, completion_tokens FROM replies WHERE key = ?", (key,)).fetchone()
        return CachedReply(reply=row[0], prompt_tokens=row[1], completion_tokens=row[2]) if row else None

    def put(self, key: str, template: str, model: str, reply: str, prompt_tokens: int, completion_tokens: int, corrected: bool = False) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, template, model, reply, prompt_tokens, completion_tokens, corrected, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, template, model, reply, prompt_tokens, completion_tokens, int(corrected), time.time()),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
