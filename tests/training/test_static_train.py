"""`train static` on a small cut of real MIND records: distilled from the bundled model, fine-tuned on
the graph's links, scored beside its teacher, selected by name, and used for the index and retrieval."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from intentkb.errors import IntentKBError
from intentkb.retrieval.build import build_index
from intentkb.retrieval.embeddings import open_embedder, settings_key
from intentkb.retrieval.models import DEFAULT_MODEL, MODEL_MARKER, model_key
from intentkb.retrieval.retrieve import Retriever
from intentkb.training.static import StaticOptions, train_static


def test_train_static_distils_fine_tunes_and_serves_retrieval(mind_kb):
    store, settings = mind_kb
    opts = StaticOptions(name=f"s{uuid.uuid4().hex[:8]}", dims=64, epochs=2, batch_size=16, held_out=0.3)
    said: list[str] = []
    report = train_static(store, settings, opts, echo=said.append, progress=False)

    assert report.teacher == model_key(DEFAULT_MODEL) and report.vocabulary > 20_000 and report.dims == 64
    assert report.examples > 0 and report.held_out_pairs > 0 and report.tuned_scores is not None
    for task in ("iqa-t1", "iqa-t2"):
        total = report.teacher_scores[task].total
        assert total > 0 and report.distilled_scores[task].total == report.tuned_scores[task].total == total
    assert any("distilling" in m for m in said) and any("fine-tuned" in m for m in said)

    out = settings.models_dir / opts.name
    marker = json.loads((out / MODEL_MARKER).read_text())
    assert marker["kind"] == "static" and marker["fingerprint"] == report.fingerprint
    assert not (settings.models_dir / f"{opts.name}.work").exists()

    # selected by name: the static backend, vectors keyed by the fingerprint, and fine-tuning moved them
    chosen = settings.model_copy(update={"embedding_model": opts.name, "embedding_backend": "onnx"})
    assert settings_key(chosen).endswith("@" + report.fingerprint)
    e = open_embedder(chosen)
    try:
        assert e.backend == "static" and e.dim == 64
        texts = ["a tent for a family camping trip", "Coleman sleeping bag"]
        vecs = e.encode(texts)
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        # the index and retrieval run on it like any embedder
        built = build_index(store, chosen, "intentions", embedder=e, rebuild=True)  # the questions built one with the teacher
        assert built.count > 0 and built.model == settings_key(chosen)
        with Retriever(store, chosen, embedder=e, hybrid=False) as r:
            hits = r.retrieve("camping in the woods with my family", k=3)
        assert hits and all(h.product and h.intention for h in hits)
    finally:
        assert e.cache is not None
        e.cache.close()


def test_train_static_refuses_a_static_teacher(mind_kb):
    store, settings = mind_kb
    static = settings.models_dir / "already"
    static.mkdir(parents=True)
    (static / "config.json").write_text(json.dumps({"model_type": "model2vec"}))
    with pytest.raises(IntentKBError, match="static model already"):
        train_static(store, settings, StaticOptions(name="again", teacher="already"))


def test_train_static_refuses_a_graph_without_links(estore, embedded_settings, tmp_path):
    with pytest.raises(IntentKBError, match="training links"):
        train_static(estore, embedded_settings.with_data_dir(tmp_path), StaticOptions(name="none"))


def test_train_static_refuses_a_teacher_that_is_not_there_and_too_few_links_for_a_batch(mind_kb, tmp_path):
    store, settings = mind_kb
    (tmp_path / "empty").mkdir()
    for teacher in ("/nonexistent/thing", str(tmp_path / "empty"), "definitely not a model!!"):
        with pytest.raises(IntentKBError, match="not a sentence-transformers model"):
            train_static(store, settings, StaticOptions(name="x", teacher=teacher))
    with pytest.raises(IntentKBError, match="fewer than two batches"):
        train_static(store, settings, StaticOptions(name="x", batch_size=256))
    assert not (settings.models_dir / "x.work").exists()
