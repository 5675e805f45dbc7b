"""IVF-PQ indexes (module `pq_index`): built from chunks, re-ranked exactly, rebuilt whole, and a
failed build leaves the index that was there; `index build` turns to them past their threshold."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest

from intentkb.errors import IntentKBError
from intentkb.retrieval.build import build_index
from intentkb.retrieval.index import VectorIndex, index_dir
from intentkb.retrieval.models import DEFAULT_MODEL, model_key
from intentkb.retrieval.pq_index import build_ivfpq
from intentkb.retrieval.retrieve import Retriever

from .test_retrieval import LONGBOARD, _script, ekb, shared_embedder  # fixtures, by name


def _vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 200 topics, as texts cluster around what they are about."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(200, dim))
    x = topics[rng.integers(0, len(topics), n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _chunks(x: np.ndarray, size: int = 3000, prefix: str = "i") -> Iterator[tuple[list[str], np.ndarray, list[str | None]]]:
    for i in range(0, len(x), size):
        ids = [f"{prefix}{j}" for j in range(i, min(i + size, len(x)))]
        yield ids, x[i : i + size], [f"h{j}" for j in range(i, i + len(ids))]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[VectorIndex, np.ndarray, np.ndarray, Path]:
    x = _vectors(24_000)
    queries = _vectors(600, seed=1)  # the same topics, other points: searches like the ones to come
    directory = tmp_path_factory.mktemp("pq") / "intentions"
    return build_ivfpq("intentions", "m", _chunks(x), len(x), directory, tune_queries=queries[:300]), x, queries, directory


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)]))


def test_a_streamed_build_reaches_its_recall_on_queries_it_was_not_tuned_on(built) -> None:
    index, x, queries, _ = built
    m = index.meta
    assert (m.kind, m.count, m.tuned_on, m.refine) == ("ivfpq", len(x), "queries", 10) and m.codec == "pq8x8"
    assert m.target_met and m.recall_at_10 is not None and m.recall_at_10 >= 0.92 and m.nprobe is not None and m.nprobe < (m.nlist or 0)
    held = queries[300:]
    _, truth = faiss.knn(held, x, 10, metric=faiss.METRIC_INNER_PRODUCT)
    scores, found = index.search_positions(held, 10)
    assert _recall(found, truth) >= 0.88
    # re-ranked scores are the exact cosines (of the float16 copies), best first
    exact = np.einsum("qkd,qd->qk", x[found], held)
    assert np.allclose(scores, exact, atol=2e-3) and (np.diff(scores, axis=1) <= 1e-6).all()
    assert index.search(held[:1], 3)[0][0][0] == f"i{found[0][0]}"


def test_the_index_loads_mapped_and_answers_the_same(built) -> None:
    index, _, queries, directory = built
    loaded = VectorIndex.load(directory, model="m", mmap=True)
    assert loaded.exact is not None and loaded.exact.shape == (24_000, 32) and loaded.meta.nprobe == index.meta.nprobe
    assert np.array_equal(loaded.search_positions(queries[:50], 10)[1], index.search_positions(queries[:50], 10)[1])


DAMAGES = {
    "vectors cut short": lambda d: os.truncate(d / "vectors.npy", 1000),
    "vectors gone": lambda d: (d / "vectors.npy").unlink(),
    "vectors not a .npy": lambda d: (d / "vectors.npy").write_bytes(b"garbage" * 100),
    "vectors of float32": lambda d: np.save(d / "vectors.npy", np.zeros((24_000, 32), dtype=np.float32)),
    "ids cut short": lambda d: (d / "ids.jsonl").write_text("".join((d / "ids.jsonl").read_text().splitlines(True)[:100])),
    "meta says flat": lambda d: (d / "meta.json").write_text((d / "meta.json").read_text().replace('"ivfpq"', '"flat"')),
    "index.faiss gone": lambda d: (d / "index.faiss").unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_index_is_a_clear_error_not_a_crash(built, tmp_path: Path, damage: str) -> None:
    """Attacked after the build: each file of the index damaged in turn, as a disk or a hand might."""
    copy = tmp_path / "intentions"
    shutil.copytree(built[3], copy)
    DAMAGES[damage](copy)
    with pytest.raises(IntentKBError, match="rebuild"):
        VectorIndex.load(copy, model="m", mmap=True).search_positions(built[2][:3], 5)


def test_an_ivfpq_index_is_rebuilt_whole_never_changed_in_place(built) -> None:
    index, x, _, _ = built
    index.remove([])  # nothing to change is fine
    index.add([], x[:0])
    for change in (lambda: index.add(["new"], x[:1]), lambda: index.remove(["i1"]), lambda: index.save(Path("/nonexistent"))):
        with pytest.raises(IntentKBError, match="rebuilt whole"):
            change()


def test_a_failed_build_leaves_the_index_that_was_there(built, tmp_path: Path) -> None:
    _, x, _, _ = built
    directory = tmp_path / "intentions"
    small = x[:4000]
    build_ivfpq("intentions", "m", _chunks(small, 1000), len(small), directory)

    def broken() -> Iterator[tuple[list[str], np.ndarray, list[str | None]]]:
        yield from _chunks(small[:2000], 1000, prefix="j")
        raise OSError("the disk went away")

    cases = [
        (broken(), len(small), OSError),
        (_chunks(small, 1000), len(small) + 5, IntentKBError),  # announced more than arrived
        (_chunks(small, 1000), len(small) - 5, IntentKBError),  # more arrived than announced
        (iter([(["a", "a"], small[:2], [None, None])]), 2, IntentKBError),  # ids repeat
        (iter([next(_chunks(small, 2000)), (["z"], small[:1, :8], [None])]), 2001, IntentKBError),  # another dimension
    ]
    for chunks, total, error in cases:
        with pytest.raises(error):
            build_ivfpq("intentions", "m", chunks, total, directory)
        kept = VectorIndex.load(directory, model="m", mmap=True)
        assert kept.meta.count == len(small) and kept.ids[0] == "i0"
    assert not directory.with_name("intentions.old").exists()


def test_index_build_turns_to_ivfpq_past_its_threshold_and_retrieves_as_before(ekb, shared_embedder) -> None:
    store, settings = ekb
    flat = build_index(store, settings, "intentions", embedder=shared_embedder)
    assert flat.kind == "flat"
    query = "a present for a child who loves dinosaurs"
    with Retriever(store, settings, embedder=shared_embedder, hybrid=False) as r:
        before = [(h.product, round(h.score, 2)) for h in r.retrieve(query, k=5)]

    pq = build_index(store, settings, "intentions", embedder=shared_embedder, pq_threshold=10)
    assert pq.rebuilt and pq.kind == "ivfpq" and pq.count == flat.count == 35
    meta = VectorIndex.load(index_dir(settings, "intentions"), model=model_key(DEFAULT_MODEL)).meta
    assert meta.kind == "ivfpq" and meta.recall_at_10 == 1.0  # 35 vectors: every one is a candidate
    with Retriever(store, settings, embedder=shared_embedder, hybrid=False) as r:
        assert [(h.product, round(h.score, 2)) for h in r.retrieve(query, k=5)] == before
        assert r.retrieve_script(_script(store, LONGBOARD), k=2)[1].products  # links of the IVF-PQ positions

    same = build_index(store, settings, "intentions", embedder=shared_embedder, pq_threshold=10)
    assert not same.rebuilt and same.unchanged == 35 and same.encoded == 0
    store.run("MATCH (i:Intention) WITH i ORDER BY i.id LIMIT 1 SET i.text = 'Bought it for a dinosaur-themed sleepover.'", write=True)
    changed = build_index(store, settings, "intentions", embedder=shared_embedder, pq_threshold=10)
    assert changed.rebuilt and changed.kind == "ivfpq" and changed.count == 35
