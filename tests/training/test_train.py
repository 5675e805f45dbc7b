"""`train embedder` on a small cut of real MIND records: the model changes, scores better on the
product pairs it never saw, is selected by name, keys its vectors apart, and an interrupted run
resumes from its checkpoint."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from intentkb.config import Settings
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore
from intentkb.retrieval.embeddings import open_embedder, settings_key
from intentkb.retrieval.models import DEFAULT_MODEL, MODEL_MARKER, model_key
from intentkb.training import cross_fit as training  # where the training progress bar is made
from intentkb.training.embedder import TrainOptions, train_embedder
from intentkb.training.links import split_links

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_the_split_is_product_disjoint_and_keeps_held_out_pairs_out_of_training(mind_kb):
    store, _ = mind_kb
    split = split_links(store, ["cobuy"], 0.3)
    assert split.held_out_groups and split.train_groups
    assert not any(p.group in set(split.held_out_groups) for p in split.train)
    held_products = {x for g in split.held_out_groups for x in g.split("|")}
    trained_products = {x for p in split.train for x in (p.group or "").split("|") if x}
    assert held_products and trained_products and not held_products & trained_products
    assert split.by_kind["cobuy"] == len(split.train)
    again = split_links(store, ["cobuy"], 0.3)
    assert again.held_out_groups == split.held_out_groups  # the same pairs on every run


def test_train_embedder_learns_scores_better_on_held_out_pairs_and_resumes(mind_kb, monkeypatch):
    store, settings = mind_kb
    opts = TrainOptions(name=f"m{uuid.uuid4().hex[:8]}", epochs=2, batch_size=16, learning_rate=1e-4, held_out=0.3, save_steps=5)

    # an interrupted run (killed after its first checkpoint) ...
    real_progress = training.Progress

    class Killed(real_progress):  # type: ignore[misc, valid-type]
        def update(self, n: int) -> None:
            super().update(n)
            if self.desc == "training" and self.done >= 7:
                raise KeyboardInterrupt

    monkeypatch.setattr(training, "Progress", Killed)
    with pytest.raises(KeyboardInterrupt):
        train_embedder(store, settings, opts, progress=False)
    assert not (settings.models_dir / opts.name).exists()  # nothing half-written where the model goes
    assert (settings.models_dir / f"{opts.name}.work" / "checkpoint-5").is_dir()
    monkeypatch.setattr(training, "Progress", real_progress)

    # ... is started again and resumes from that checkpoint
    report = train_embedder(store, settings, opts, progress=False)
    assert report.resumed_from and report.resumed_from.endswith("checkpoint-5")
    assert report.examples == sum(report.by_kind.values()) > 0 and report.held_out_pairs > 0
    t1b, t1a = report.before["iqa-t1"], report.after["iqa-t1"]
    t2b, t2a = report.before["iqa-t2"], report.after["iqa-t2"]
    assert t1b.total == t1a.total > 0 and t2b.total == t2a.total > 0
    assert t1a.correct > t1b.correct  # better on pairs it never trained on
    assert t2a.correct >= t2b.correct - 1

    out = settings.models_dir / opts.name
    marker = json.loads((out / MODEL_MARKER).read_text())
    assert marker["fingerprint"] == report.fingerprint and marker["base"] == model_key(DEFAULT_MODEL)
    assert marker["by_kind"] == report.by_kind and not (settings.models_dir / f"{opts.name}.work").exists()

    # selected by name; its vectors are keyed apart from the base model's and differ from them
    chosen = settings.model_copy(update={"embedding_model": opts.name})
    assert chosen.embedding_model_location == str(out)
    assert settings_key(chosen).endswith("@" + report.fingerprint)
    base, trained = open_embedder(settings), open_embedder(chosen)
    try:
        texts = ["a tent for a family camping trip", "Coleman sleeping bag"]
        diff = np.sum(base.encode(texts) * trained.encode(texts), axis=1)
        assert float(np.max(diff)) < 0.9999
    finally:
        base.cache.close()
        trained.cache.close()


def test_training_refuses_a_graph_without_links(estore, embedded_settings, tmp_path):
    from intentkb.errors import IntentKBError

    settings = embedded_settings.with_data_dir(tmp_path)
    with pytest.raises(IntentKBError, match="training links"):
        train_embedder(estore, settings, TrainOptions(name="empty"))
