"""The link table beside the intention index answers exactly what the graph answers, on both
engines, and a table the graph has moved away from is read again before it answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intentkb.demo import DEMO_FILES, data_path
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore
from intentkb.retrieval import retrieve as retrieve_module
from intentkb.retrieval.build import build_index
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.index import index_dir
from intentkb.retrieval.link_table import LinkTable, graph_counts, table_dir
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever

QUERIES = [
    "a present for a child who loves dinosaurs",
    "learn to skateboard safely",
    "stay warm at a winter football game",
    "keep my phone charged while camping",
    "a costume for a halloween party",
    "something for a toddler's bath time",
    "throw a birthday party at home",
    "protect a laptop on the commute",
]


@pytest.fixture(scope="module")
def shared_embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "embeddings.sqlite"))


@pytest.fixture
def demo_kb(store: GraphStore, tmp_path: Path, shared_embedder: Embedder) -> GraphStore:
    """Every kind of link: co-buy (EXPLAINS a and b), purchase (EXPLAINS p), session trees (AT)."""
    for kind, name, fmt in DEMO_FILES:
        ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects")
    build_index(store, store.settings, "intentions", embedder=shared_embedder)
    return store


def _answers(r: Retriever, k: int, threshold: float | None) -> list[list[dict]]:
    vectors = r.embedder.encode(QUERIES)
    return [[h.model_dump() for h in hits] for hits in r._products_many(vectors, k, threshold)]


@pytest.mark.parametrize("k, threshold", [(5, None), (40, None), (10, 0.45)])
def test_the_table_answers_what_the_graph_answers(demo_kb, shared_embedder, k, threshold):
    with Retriever(demo_kb, demo_kb.settings, embedder=shared_embedder, hybrid=False) as r:
        assert r.links is not None and r.links.meta.counts == graph_counts(demo_kb)
        assert {"AT", "EXPLAINS"} <= {h["via"] for hits in _answers(r, 40, None) for h in hits}
        from_table = _answers(r, k, threshold)
        r.links = None  # the graph's own answer
        from_graph = _answers(r, k, threshold)
    assert from_table == from_graph and any(from_table)


def test_a_stale_table_is_read_again_never_served(demo_kb, shared_embedder, monkeypatch):
    settings = demo_kb.settings
    with Retriever(demo_kb, settings, embedder=shared_embedder, hybrid=False) as r:
        first = r.retrieve(QUERIES[0], k=3)
        gone = first[0].product
        monkeypatch.setattr(retrieve_module, "LINK_CHECK_S", 0.0)  # a server checks every second
        demo_kb.run("MATCH (p:Product {id: $id}) DETACH DELETE p", {"id": gone}, write=True)
        again = r.retrieve(QUERIES[0], k=3)
        assert gone not in {h.product for h in again}
        assert r.links is not None and r.links.meta.counts == graph_counts(demo_kb)
    saved = LinkTable.load(table_dir(index_dir(settings, "intentions")))
    assert saved is not None and saved.meta.counts == graph_counts(demo_kb)  # and kept for the next reader


def test_a_table_of_another_index_build_is_read_again(demo_kb, shared_embedder):
    settings = demo_kb.settings
    where = table_dir(index_dir(settings, "intentions"))
    meta = json.loads((where / "meta.json").read_text())
    meta["ids_digest"] = "0" * 32
    (where / "meta.json").write_text(json.dumps(meta))
    with Retriever(demo_kb, settings, embedder=shared_embedder, hybrid=False) as r:
        assert r.links is not None and r.links.meta.ids_digest != "0" * 32
    (where / "offsets.npy").write_bytes(b"damaged")
    with Retriever(demo_kb, settings, embedder=shared_embedder, hybrid=False) as r:
        assert r.links is not None and len(r.links.offsets) == r.links.meta.positions + 1
        want = r.retrieve(QUERIES[0], k=5)
    # the attack of the damaged-index fix: an empty .npy ended the CLI with "Aborted!", values out of
    # range gave IndexErrors, reversed offsets a ValueError: each is read again from the graph
    damages = {
        "an empty file": lambda name, x: (where / f"{name}.npy").write_bytes(b""),
        "values out of range": lambda name, x: np.save(where / f"{name}.npy", np.full_like(x, np.iinfo(x.dtype).max)),
        "reversed": lambda name, x: np.save(where / f"{name}.npy", np.ascontiguousarray(x[::-1])),
    }
    for name in ("offsets", "targets", "via", "kind", "id_rank"):
        for how, damage in damages.items():
            damage(name, np.load(where / f"{name}.npy"))
            with Retriever(demo_kb, settings, embedder=shared_embedder, hybrid=False) as r:
                assert r.retrieve(QUERIES[0], k=5) == want, (name, how)


def test_a_link_moved_without_changing_any_count_is_never_served(demo_kb, shared_embedder):
    """Counts cannot see an EXPLAINS edge moved to another product: every hit kept is checked
    against the graph before it is answered, and a stale table is read again."""
    settings = demo_kb.settings
    with Retriever(demo_kb, settings, embedder=shared_embedder) as r:
        hit = r.retrieve(QUERIES[0], k=3)[0]
        assert hit.intention and "intention" in hit.paths
        other = demo_kb.run("MATCH (p:Product) WHERE p.id <> $id RETURN p.id AS id ORDER BY id LIMIT 1", {"id": hit.product})[0]["id"]
        before = graph_counts(demo_kb)
        demo_kb.run(
            "MATCH (i:Intention {id: $i})-[e:EXPLAINS|AT]->(p:Product {id: $p}) MATCH (q:Product {id: $q}) DELETE e CREATE (i)-[:EXPLAINS]->(q)",
            {"i": hit.intention, "p": hit.product, "q": other},
            write=True,
        )
        assert graph_counts(demo_kb)["intentions"] == before["intentions"]
        again = r.retrieve(QUERIES[0], k=3)
        assert (hit.intention, hit.product) not in {(h.intention, h.product) for h in again}
        for h in again:  # every link answered is one the graph has
            if h.intention:
                assert demo_kb.run("MATCH (:Intention {id: $i})-[:EXPLAINS|AT]->(p:Product {id: $p}) RETURN count(*) AS n", {"i": h.intention, "p": h.product})[
                    0
                ]["n"]


def test_a_product_gone_from_the_graph_is_not_answered_by_its_own_text(demo_kb, shared_embedder):
    settings = demo_kb.settings
    build_index(demo_kb, settings, "products", embedder=shared_embedder)
    with Retriever(demo_kb, settings, embedder=shared_embedder) as r:
        direct = [h for h in r.retrieve("a skateboard for a beginner", k=10) if "product" in h.paths]
        assert direct
        gone = direct[0].product
        demo_kb.run("MATCH (p:Product {id: $id}) DETACH DELETE p", {"id": gone}, write=True)
        assert gone not in {h.product for h in r.retrieve("a skateboard for a beginner", k=10)}
