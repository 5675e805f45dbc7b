"""Retrieval on Neo4j's own vector index (INTENTKB_VECTOR_BACKEND=graph): the FAISS path's answers
from the same embeddings, kept in step with the graph by `index build`, refused where there is none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intentkb.demo import DEMO_FILES, data_path
from intentkb.errors import IntentKBError
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.store import GraphStore
from intentkb.retrieval.build import build_index, build_indexes
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.graph_vectors import GraphVectorIndex
from intentkb.retrieval.index import ModelMismatch, load_intentions_index
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever

from .test_link_table import QUERIES


@pytest.fixture
def neo(neo4j_settings, tmp_path: Path):
    store = open_store(neo4j_settings)
    if not store.is_empty():
        store.drop()
    embedder = Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path / "embeddings.sqlite"))
    for kind, name, fmt in DEMO_FILES:
        ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects")
    yield store, embedder
    store.drop()
    store.close()


@pytest.mark.neo4j
def test_the_graph_index_answers_as_faiss_does(neo):
    store, embedder = neo
    faiss_settings = store.settings
    graph_settings = faiss_settings.model_copy(update={"vector_backend": "graph"})
    build_indexes(store, faiss_settings, embedder=embedder)
    reports = {r.name: r for r in build_indexes(store, graph_settings, embedder=embedder)}
    assert reports["intentions"].kind == "graph" and reports["products"].kind == "graph" and reports["steps"].kind == "flat"
    assert reports["intentions"].count == load_intentions_index(faiss_settings).meta.count and reports["intentions"].encoded == 0  # the cache's vectors

    vectors = embedder.encode(QUERIES)
    exact = load_intentions_index(faiss_settings).search(vectors, 10)
    graph = GraphVectorIndex.load(store, graph_settings, "intentions").search(vectors, 10)
    recall = np.mean([len({g for g, _ in a} & {g for g, _ in b}) / 10 for a, b in zip(exact, graph)])
    assert recall >= 0.9
    for a, b in zip(exact, graph):  # the same cosine, not Neo4j's (1 + cos) / 2
        same = {g: s for g, s in a}
        diffs = [abs(same[g] - s) for g, s in b if g in same]
        assert diffs and max(diffs) < 1e-3, diffs

    with Retriever(store, faiss_settings, embedder=embedder) as r:
        by_faiss = [[h.product for h in r.retrieve(q, k=5)] for q in QUERIES]
    with Retriever(store, graph_settings, embedder=embedder) as r:
        assert r.links is None and isinstance(r.index, GraphVectorIndex) and isinstance(r.products, GraphVectorIndex)
        assert r.products.meta.weak_below is not None
        by_graph = [[h.product for h in r.retrieve(q, k=5)] for q in QUERIES]
        steps = r.retrieve_script(store.run("MATCH (c:Script) RETURN c.id AS id ORDER BY id LIMIT 1")[0]["id"], k=3)
    assert steps and all(s.products for s in steps)
    agree = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(by_faiss, by_graph)])
    assert agree >= 0.9, (by_faiss, by_graph)


@pytest.mark.neo4j
def test_the_graph_index_follows_the_graph_and_its_model(neo):
    store, embedder = neo
    settings = store.settings.model_copy(update={"vector_backend": "graph"})
    first = build_index(store, settings, "intentions", embedder=embedder)
    again = build_index(store, settings, "intentions", embedder=embedder)
    assert first.added == first.count > 0 and again.added == again.updated == again.removed == 0 and again.unchanged == first.count
    gone = store.run("MATCH (i:Intention) RETURN i.id AS id ORDER BY id LIMIT 1")[0]["id"]
    store.run("MATCH (i:Intention {id: $id}) SET i.text = 'a completely new text about kayaks'", {"id": gone}, write=True)
    changed = build_index(store, settings, "intentions", embedder=embedder)
    assert changed.updated == 1 and changed.added == changed.removed == 0
    with pytest.raises(ModelMismatch):
        GraphVectorIndex.load(store, settings, "intentions", model="another-model")


def test_the_embedded_store_has_no_graph_index(estore: GraphStore, tmp_path: Path):
    settings = estore.settings.model_copy(update={"vector_backend": "graph"})
    for kind, name, fmt in DEMO_FILES[:2]:
        ingest_file(estore, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects")
    with pytest.raises(IntentKBError, match="needs a Neo4j store"):
        build_index(estore, settings, "intentions", embedder=Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path / "e.sqlite")))
