"""Embeddings: the bundled default model, normalised vectors, and a cache that makes re-encoding
unchanged text cost no model call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intentkb.errors import IntentKBError
from intentkb.retrieval.backends import candidates
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.models import DEFAULT_MODEL, model_key

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
    from intentkb.retrieval.embeddings import open_embedder, settings_key

    monkeypatch.setenv("INTENTKB_EMBEDDING_PRECISION", "bfloat16")
    monkeypatch.setenv("INTENTKB_EMBEDDING_DEVICE", "cuda:1")
    s = Settings(data_dir=tmp_path)
    e = open_embedder(s)
    assert (e.precision, e.device, e.key) == ("bfloat16", "cuda:1", settings_key(s))
    assert e._model is None  # nothing loaded until a text needs the model
    assert e.cache is not None and e.cache.path == tmp_path / "embeddings.sqlite"


# -- the ONNX backend, the measured mode choice, threads and progress ------------------------------


@pytest.fixture
def onnx_dir(shared_onnx_dir: Path) -> Path:
    """The session's export (~20 s once: torch exports, ONNX Runtime fuses and quantises)."""
    return shared_onnx_dir


TEXTS = [
    STEP,
    NEAR,
    FAR,
    "Cisco 8-port gigabit switch",
    "Melissa & Doug wooden construction set for kids aged 3+",
    "keep my coffee hot on the commute",
    "a",
    "PersonX bought the item because they wanted to hike " * 20,
]


def test_onnx_float32_is_the_torch_model_and_int8_is_close_and_cached_apart(model_embedder, onnx_dir, tmp_path):
    exact = model_embedder.encode(TEXTS)
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    fp32 = Embedder(DEFAULT_MODEL, cache, backend="onnx", onnx_dir=onnx_dir, threads=1)
    assert fp32.key == model_key(DEFAULT_MODEL)  # the same vectors, the same key: indexes built on torch stay usable
    v = fp32.encode(TEXTS)
    assert fp32.dim == 384 and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(v * exact, axis=1))) > 0.99999
    int8 = Embedder(DEFAULT_MODEL, cache, backend="onnx", precision="int8", onnx_dir=onnx_dir, threads=1)
    assert int8.key == model_key(DEFAULT_MODEL) + "#int8"
    q = int8.encode(TEXTS)
    cos = np.sum(q * exact, axis=1)
    assert float(np.mean(cos)) > 0.98 and float(np.min(cos)) > 0.95
    assert not np.allclose(q, exact, atol=1e-4)  # it is the quantised graph, not the float one again
    assert cache.count(int8.key) == len(TEXTS)
    assert int8.describe() == "onnx int8, 1 threads"
    with pytest.raises(IntentKBError, match="precision on onnx"):
        Embedder(DEFAULT_MODEL, backend="onnx", precision="bfloat16")


def test_onnx_export_is_made_once_and_reused(onnx_dir, monkeypatch):
    from intentkb.retrieval import onnx_encoder

    directory, info = onnx_encoder.ensure_export(onnx_dir, model_key(DEFAULT_MODEL), "unused: the export exists")
    assert (directory / "model_int8.onnx").exists() and info.pooling == "mean" and info.dim == 384
    monkeypatch.setattr(onnx_encoder, "_export", lambda *a: pytest.fail("exported again"))
    assert onnx_encoder.ensure_export(onnx_dir, model_key(DEFAULT_MODEL), "x")[0] == directory


def test_precision_auto_measures_and_keeps_its_decision(onnx_dir, tmp_path, monkeypatch):
    from intentkb.config import Settings
    from intentkb.retrieval import encoder_choice

    monkeypatch.setenv("INTENTKB_ONNX_DIR", str(onnx_dir))
    settings = Settings(data_dir=tmp_path, embedding_threads=1)
    monkeypatch.setattr(encoder_choice, "PROBE", 32)
    choice = encoder_choice.choose(settings, TEXTS * 4)
    by_mode = {(f.backend, f.precision): f for f in choice.measured}
    assert set(by_mode) == set(candidates())
    picked = by_mode[(choice.backend, choice.precision)]
    # never a mode slower than another one that agrees with float32 and ran to the end
    assert all(picked.texts_per_s >= f.texts_per_s for f in choice.measured if not f.cut_off and f.agreement >= encoder_choice.AGREEMENT)
    assert picked.agreement >= encoder_choice.AGREEMENT
    monkeypatch.setattr(encoder_choice, "measure", lambda *a: pytest.fail("measured again"))
    assert encoder_choice.choose(settings, TEXTS) == choice


def test_threads_follow_the_setting_else_the_idle_cores(monkeypatch):
    from intentkb.retrieval import threads

    assert threads.encoder_threads(3) == 3
    monkeypatch.setenv("INTENTKB_EMBEDDING_THREADS", "5")
    assert threads.encoder_threads() == 5
    monkeypatch.delenv("INTENTKB_EMBEDDING_THREADS")
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.2: 0.9)  # another process holds one of two cores
    assert threads.encoder_threads() == 1
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.2: 0.05)
    assert threads.encoder_threads() == 2
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.2: 7.0)
    assert threads.encoder_threads() == 1


def test_busy_cores_sees_a_busy_process():
    import multiprocessing

    from intentkb.retrieval.threads import busy_cores

    stop = multiprocessing.Event()
    p = multiprocessing.Process(target=_spin, args=(stop,))
    p.start()
    try:
        assert busy_cores(0.5) > 0.6
    finally:
        stop.set()
        p.join()


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def test_progress_writes_rate_and_time_left_lines_when_not_a_terminal():
    import io

    from intentkb.progress import Progress

    out = io.StringIO()
    p = Progress(1000, "embedding", stream=out, every=0.0)
    p.update(250)
    p.update(250)
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("embedding: 250/1,000 texts, ") and "/s" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("embedding: 500 texts in ")
    quiet = io.StringIO()
    with Progress(10, "x", stream=quiet, every=60.0) as q:
        q.update(10)
    assert quiet.getvalue() == ""  # short work prints nothing


def test_a_precision_setting_finds_its_backend(tmp_path):
    """INTENTKB_EMBEDDING_PRECISION=int8 with the default backend used to be refused ("precision on
    torch must be float32 or bfloat16"); `eval mcq --precision int8` already took ONNX. One rule now."""
    from intentkb.config import Settings
    from intentkb.retrieval.embeddings import open_embedder, settings_key

    s = Settings(data_dir=tmp_path, embedding_precision="int8")
    e = open_embedder(s)
    assert (e.backend, e.precision) == ("onnx", "int8") and e.key == settings_key(s)


def test_vectors_of_another_dimension_never_join_a_key_nor_search_an_index(tmp_path):
    """A backend that claimed to run the model but gave 8-d vectors wrote them under the model's key,
    and every later search failed inside faiss, the default backend's too."""
    from intentkb.retrieval.embeddings import EmbeddingCache
    from intentkb.retrieval.index import VectorIndex

    cache = EmbeddingCache(tmp_path / "e.sqlite")
    cache.put("m", [(b"a", np.ones(384, dtype=np.float32))])
    with pytest.raises(IntentKBError, match=r"vectors of \[8, 384\] dimensions under one key 'm'"):
        cache.put("m", [(b"b", np.ones(8, dtype=np.float32))])
    assert cache.count("m") == 1
    v = np.ones((1, 384), dtype=np.float32)
    index = VectorIndex.build("x", "m", ["x"], v / np.linalg.norm(v), ["hx"])
    with pytest.raises(IntentKBError, match="query vectors have 8 dimensions, the index 384"):
        index.search(np.ones((1, 8), dtype=np.float32), 1, model="m")


def test_the_default_is_onnx_and_a_model_it_cannot_export_runs_on_torch(onnx_dir, tmp_path, monkeypatch):
    """ONNX is the default backend; a sentence-transformers model of another shape (here with a Dense
    layer after the pooling) is not refused: it runs on torch, with torch's vectors."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    from intentkb.config import Settings
    from intentkb.retrieval.embeddings import open_embedder
    from intentkb.retrieval.models import model_location

    monkeypatch.delenv("INTENTKB_EMBEDDING_BACKEND", raising=False)
    assert Settings(data_dir=tmp_path).embedding_backend == "onnx"
    st = SentenceTransformer(model_location(DEFAULT_MODEL), device="cpu")
    st.append(Dense(384, 32))
    st.save(str(tmp_path / "dense"))
    said: list[str] = []
    e = open_embedder(Settings(data_dir=tmp_path, embedding_model=str(tmp_path / "dense")), echo=said.append)
    try:
        assert e.backend == "onnx"
        vecs = e.encode(TEXTS[:3])
        assert e.backend == "torch" and vecs.shape == (3, 32) and any("running it on torch" in m for m in said)
        want = SentenceTransformer(str(tmp_path / "dense"), device="cpu").encode(TEXTS[:3], normalize_embeddings=True)
        assert np.allclose(vecs, want, atol=1e-5)
    finally:
        assert e.cache is not None
        e.cache.close()


def test_a_first_encode_of_a_few_texts_loads_on_one_thread_without_sampling(onnx_dir, monkeypatch):
    from intentkb.retrieval import embeddings

    monkeypatch.delenv("INTENTKB_EMBEDDING_THREADS", raising=False)
    monkeypatch.setattr(embeddings, "encoder_threads", lambda setting=None: pytest.fail("sampled the idle cores"))
    e = Embedder(DEFAULT_MODEL, None, backend="onnx", onnx_dir=onnx_dir)
    e.encode(["keep my coffee hot on the commute"])
    assert e.threads_used == 1
    many = Embedder(DEFAULT_MODEL, None, backend="onnx", onnx_dir=onnx_dir)
    monkeypatch.setattr(embeddings, "encoder_threads", lambda setting=None: 2)
    many.encode([f"text number {i}" for i in range(embeddings.FEW_TEXTS + 1)])
    assert many.threads_used == 2
