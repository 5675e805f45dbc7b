"""The key vectors are cached and indexed under, from the settings alone: what a client compares
with a running server's before asking it (no numpy, no encoder imported to know it)."""

from __future__ import annotations

from ..config import Settings
from .backends import mode_of
from .models import model_key


def embedding_key(name: str, precision: str = "float32", backend: str = "torch") -> str:
    """What vectors are cached and indexed under: the model, its precision when not float32, and the
    backend when it does not compute the model's own vectors (torch and the ONNX export compute the
    same float32 vectors and share them; a hash or a remote API never mixes with them)."""
    from .backends import backends

    key = model_key(name) if precision == "float32" else f"{model_key(name)}#{precision}"
    own = backends().get(backend)
    return key if own is None or own.computes_the_model else f"{key}@{backend}"


def settings_mode(settings: Settings) -> tuple[str, str]:
    """(backend, precision) the settings' embedding model runs on."""
    return mode_of(settings.embedding_model_location, settings.embedding_precision, settings.embedding_backend)


def settings_key(settings: Settings) -> str:
    """The key vectors of these settings are cached and indexed under."""
    backend, precision = settings_mode(settings)
    return embedding_key(settings.embedding_model_location, precision, backend)
