"""The static tier's reader gives model2vec's own vectors, runs whatever backend the settings name,
and is what `--precision auto` picks for a static model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model2vec import StaticModel
from tokenizers import Tokenizer

from intentkb.config import Settings
from intentkb.errors import IntentKBError
from intentkb.retrieval.backends import candidates, mode_of
from intentkb.retrieval.embeddings import Embedder, open_embedder, settings_key
from intentkb.retrieval.models import DEFAULT_MODEL, model_location
from intentkb.retrieval.static import is_static
from intentkb.retrieval.static_encoder import SPARSE_FROM, StaticEncoder

TEXTS = [
    "a tent for a family camping trip",
    "Coleman sleeping bag, 40°F, fits adults up to 6'2\"",
    "",
    "   ",
    "感谢 ☃ emoji 🎉 and mixed scripts",
    "Buy flour, sugar and eggs for the birthday cake " * 400,  # cut by length as model2vec cuts it
    "[UNK] [CLS] tokens spelt out",
]


def _tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(Path(model_location(DEFAULT_MODEL)) / "tokenizer.json"))


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static model over MiniLM's tokenizer with random token vectors (distilling takes seconds)."""
    tok = _tokenizer()
    vectors = np.random.default_rng(0).normal(size=(tok.get_vocab_size(), 32)).astype(np.float32)
    out = tmp_path_factory.mktemp("static") / "m"
    StaticModel(vectors, tok, normalize=True).save_pretrained(str(out))
    return out


# one batch below SPARSE_FROM (rows gathered) and one above (a sparse product): the same vectors
BATCHES = pytest.mark.parametrize("repeat", [1, 1 + SPARSE_FROM // len(TEXTS)], ids=["small batch", "large batch"])


@BATCHES
def test_the_reader_gives_model2vecs_vectors(static_dir: Path, repeat: int) -> None:
    texts = TEXTS * repeat
    ours = StaticEncoder(static_dir).encode(texts)
    theirs = StaticModel.from_pretrained(str(static_dir)).encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 32)
    assert np.allclose(ours, theirs, atol=1e-5)
    norms = np.linalg.norm(ours, axis=1)
    assert np.allclose(norms[[0, 1, 4, 5, 6]], 1.0, atol=1e-5) and norms[2] == 0.0  # no token: the zero vector, as model2vec


@BATCHES
def test_weighted_and_mapped_token_vectors_are_read_as_model2vec_reads_them(tmp_path: Path, repeat: int) -> None:
    tok = _tokenizer()
    n = tok.get_vocab_size()
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)  # a quantized vocabulary: tokens share rows
    mapping = rng.integers(0, 500, size=n).astype(np.int64)
    weights = rng.uniform(0.1, 2.0, size=n).astype(np.float32)
    StaticModel(vectors, tok, normalize=True, weights=weights, token_mapping=mapping).save_pretrained(str(tmp_path / "q"))
    ours = StaticEncoder(tmp_path / "q").encode(TEXTS * repeat)
    theirs = StaticModel.from_pretrained(str(tmp_path / "q")).encode(TEXTS * repeat)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_a_damaged_static_model_is_a_clear_error(static_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("config.json", "tokenizer.json"):
        (bad / f).write_bytes((static_dir / f).read_bytes())
    (bad / "model.safetensors").write_bytes(b"\x00" * 40)
    assert is_static(str(bad))
    with pytest.raises(IntentKBError, match="cannot read the static model"):
        StaticEncoder(bad)
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / "config.json").write_text("{")
    assert not is_static(str(tmp_path / "notjson")) and not is_static(str(tmp_path / "none"))


def test_a_static_model_runs_on_the_static_backend_whatever_the_settings_name(static_dir: Path, tmp_path: Path) -> None:
    assert mode_of(str(static_dir), "int8", "onnx") == ("static", "float32")
    assert mode_of(model_location(DEFAULT_MODEL), "int8", "torch") == ("onnx", "int8")
    assert candidates(str(static_dir)) == [("static", "float32")]
    assert ("static", "float32") not in candidates(model_location(DEFAULT_MODEL))
    e = Embedder(str(static_dir), None, backend="onnx", precision="int8")
    assert (e.backend, e.precision) == ("static", "float32")
    settings = Settings(data_dir=tmp_path, embedding_model=str(static_dir), embedding_backend="onnx", embedding_precision="int8")
    opened = open_embedder(settings)
    try:
        assert opened.backend == "static" and opened.key == settings_key(settings)
        assert np.allclose(opened.encode(TEXTS[:2]), StaticEncoder(static_dir).encode(TEXTS[:2]))
    finally:
        assert opened.cache is not None
        opened.cache.close()
    with pytest.raises(IntentKBError, match="not a static model"):
        Embedder(DEFAULT_MODEL, None, backend="static").encode(["x"])


def test_precision_auto_picks_the_static_backend_for_a_static_model(static_dir: Path, tmp_path: Path) -> None:
    from intentkb.retrieval.encoder_choice import choose

    settings = Settings(data_dir=tmp_path, embedding_model=str(static_dir))
    choice = choose(settings, TEXTS * 10)
    assert (choice.backend, choice.precision) == ("static", "float32")
    assert [(f.backend, f.precision) for f in choice.measured] == [("static", "float32")]
    kept = json.loads((settings.models_dir / "encoder-choice.json").read_text())
    assert len(kept) == 1


def test_a_static_model_skips_the_embedding_cache(static_dir: Path, tmp_path: Path) -> None:
    """Encoding is cheaper than the cache's look-ups: nothing is read from it or written to it."""
    from intentkb.retrieval.embeddings import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    try:
        e = Embedder(str(static_dir), cache)
        first = e.encode(TEXTS[:3])
        assert cache.count() == 0 and e.encoded == 3
        assert np.array_equal(e.encode(TEXTS[:3]), first) and e.encoded == 6
    finally:
        cache.close()


@pytest.mark.parametrize("damage", ["too few rows", "not finite", "three dimensions"])
def test_token_vectors_that_do_not_fit_are_refused_at_load(static_dir: Path, tmp_path: Path, damage: str) -> None:
    from safetensors.numpy import save_file

    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("config.json", "tokenizer.json"):
        (bad / f).write_bytes((static_dir / f).read_bytes())
    vectors = {
        "too few rows": np.ones((10, 8), dtype=np.float32),
        "not finite": np.full((_tokenizer().get_vocab_size(), 8), np.nan, dtype=np.float32),
        "three dimensions": np.ones((4, 4, 4), dtype=np.float32),
    }[damage]
    save_file({"embeddings": vectors}, str(bad / "model.safetensors"))
    with pytest.raises(IntentKBError, match="is damaged"):
        StaticEncoder(bad)
