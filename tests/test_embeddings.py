"""Embeddings: the bundled default model, normalised vectors, and a cache that makes re-encoding
unchanged text cost no model call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intentkb.errors import IntentKBError
from intentkb.retrieval.embeddings import DEFAULT_MODEL, Embedder, EmbeddingCache, model_key

STEP = "Buy a helmet and knee pads before the first skating lesson."
NEAR = "The customer wants protective gear for learning to skate."
FAR = "Looking for a birthday gift for a dog: a chew toy."


@pytest.fixture(scope="module")
def model_embedder(tmp_path_factory) -> Embedder:
    """One loaded model for the module (loading costs ~5 s)."""
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "cache.sqlite"))


def test_default_model_is_bundled_and_vectors_are_normalised(model_embedder):
    v = model_embedder.encode([STEP, NEAR, FAR])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    near, far = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert near > 0.45 > far  # EcomScriptBench's alignment threshold separates these two


def test_cache_serves_unchanged_text_without_loading_the_model(model_embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    first = Embedder(DEFAULT_MODEL, cache)
    first._model = model_embedder.model  # share the loaded weights; the count below is what matters
    a = first.encode([STEP, NEAR, STEP])
    assert first.encoded == 2 and cache.count(model_key(DEFAULT_MODEL)) == 2  # duplicates encoded once
    again = Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path / "c.sqlite"))
    b = again.encode([NEAR, STEP])
    assert again._model is None and again.encoded == 0  # nothing went through a model
    assert np.array_equal(b, a[[1, 0]])


def test_the_cache_keeps_models_apart(model_embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put("other-model", [(b"x" * 16, np.ones(8, dtype=np.float32))])
    e = Embedder(DEFAULT_MODEL, cache)
    e._model = model_embedder.model
    e.encode([STEP])
    assert e.encoded == 1 and cache.count("other-model") == 1


def test_an_unknown_model_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    missing.mkdir()
    with pytest.raises(IntentKBError, match="cannot load embedding model"):
        Embedder(str(missing)).encode(["x"])


def test_model_keys():
    assert model_key("all-MiniLM-L6-v2") == model_key("sentence-transformers/all-MiniLM-L6-v2")
    assert model_key(str(Path("."))) == str(Path(".").resolve())


def test_bfloat16_precision_is_cached_apart_and_close_to_float32(model_embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    fast = Embedder(DEFAULT_MODEL, cache, precision="bfloat16")
    assert fast.key == model_key(DEFAULT_MODEL) + "#bfloat16"
    v = fast.encode([STEP, NEAR])
    assert fast.encoded == 2 and cache.count(fast.key) == 2 and cache.count(model_key(DEFAULT_MODEL)) == 0
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    exact = model_embedder.encode([STEP, NEAR])
    assert float(np.min(np.sum(v * exact, axis=1))) > 0.999
    with pytest.raises(IntentKBError, match="precision"):
        Embedder(DEFAULT_MODEL, precision="int8")


def test_settings_choose_model_precision_and_device(tmp_path, monkeypatch):
    from intentkb.config import Settings
    from intentkb.retrieval.build import open_embedder, settings_key

    monkeypatch.setenv("INTENTKB_EMBEDDING_PRECISION", "bfloat16")
    monkeypatch.setenv("INTENTKB_EMBEDDING_DEVICE", "cuda:1")
    s = Settings(data_dir=tmp_path)
    e = open_embedder(s)
    assert (e.precision, e.device, e.key) == ("bfloat16", "cuda:1", settings_key(s))
    assert e._model is None  # nothing loaded until a text needs the model
    assert e.cache is not None and e.cache.path == tmp_path / "embeddings.sqlite"
