"""Retrieval over a real embedded graph: index build / save / load / incremental update, model
mismatch refusal, step alignment idempotency, and `retrieve` (Python API and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.config import Settings
from intentkb.demo import data_path
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_index, build_indexes
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.index import ModelMismatch, VectorIndex, index_dir
from intentkb.retrieval.models import DEFAULT_MODEL, model_key
from intentkb.retrieval.retrieve import Retriever

LONGBOARD = "Start Longboarding"


@pytest.fixture(scope="module")
def shared_embedder(tmp_path_factory) -> Embedder:
    """One cache for the module: texts embedded by one test are free for the next."""
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "embeddings.sqlite"))


def _load(store: GraphStore, tmp_path: Path) -> tuple[GraphStore, Settings]:
    """Catalogue products, their purchase intentions and scripts from the bundled demo data (the
    graph is the test's own, and so are its indexes: they live under the graph's name)."""
    for kind, name, fmt in [
        ("products", "products.csv", "catalog"),
        ("intentions", "purchase_intentions.jsonl", "purchase"),
        ("scripts", "scripts.jsonl", "coscript"),
    ]:
        s = ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects")
        assert s.rejected == 0
    return store, store.settings


@pytest.fixture
def kb(store: GraphStore, tmp_path: Path) -> tuple[GraphStore, Settings]:
    """On the embedded store, and on Neo4j when NEO4J_URI is set."""
    return _load(store, tmp_path)


@pytest.fixture
def ekb(estore: GraphStore, tmp_path: Path) -> tuple[GraphStore, Settings]:
    """On the embedded store only (the CLI tests reach it through INTENTKB_HOME and INTENTKB_GRAPH)."""
    return _load(estore, tmp_path)


def _script(store: GraphStore, objective: str = LONGBOARD) -> str:
    return store.run("MATCH (c:Script {objective: $o}) RETURN c.id AS id", {"o": objective})[0]["id"]


def _aligned(store: GraphStore) -> list[tuple[str, str, float]]:
    rows = store.run("MATCH (s:Step)-[a:ALIGNED]->(i:Intention) RETURN s.id AS s, i.id AS i, a.score AS score ORDER BY s, i")
    return [(r["s"], r["i"], r["score"]) for r in rows]


def test_index_build_save_load_and_incremental_update(kb, shared_embedder):
    store, settings = kb
    first = build_indexes(store, settings, embedder=shared_embedder)
    by = {r.name: r for r in first}
    assert by["intentions"].rebuilt and by["intentions"].count == 35 and by["intentions"].kind == "flat"
    assert by["steps"].count == 29
    saved = VectorIndex.load(index_dir(settings, "intentions"), model=model_key(DEFAULT_MODEL))
    assert saved.meta.count == 35 and saved.meta.model == model_key(DEFAULT_MODEL) and saved.index.ntotal == 35

    # nothing changed: nothing embedded, nothing added
    again = build_index(store, settings, "intentions", embedder=shared_embedder)
    assert not again.rebuilt and (again.added, again.updated, again.removed, again.unchanged, again.encoded) == (0, 0, 0, 35, 0)

    # one new intention, one changed text, one deleted node
    store.run(
        "MATCH (p:Product {id: 'B07PF1R8LS'}) CREATE (:Intention {id: 'i-new', kind: 'purchase', text: $t})-[:EXPLAINS {role: 'p'}]->(p)",
        {"t": f"The customer bought it for a fossil-themed birthday party ({store.kind})."},
        write=True,
    )
    changed = store.run("MATCH (i:Intention) WHERE i.id <> 'i-new' RETURN i.id AS id ORDER BY id LIMIT 2")
    # texts of their own per engine: the shared embedder has seen the other engine's run
    store.run(
        "MATCH (i:Intention {id: $id}) SET i.text = $t",
        {"id": changed[0]["id"], "t": f"The customer bought it to practise night skating ({store.kind})."},
        write=True,
    )
    store.run("MATCH (i:Intention {id: $id}) DETACH DELETE i", {"id": changed[1]["id"]}, write=True)
    before = shared_embedder.encoded
    upd = build_index(store, settings, "intentions", embedder=shared_embedder)
    assert (upd.added, upd.updated, upd.removed, upd.unchanged, upd.count) == (1, 1, 1, 33, 35)
    assert upd.encoded == shared_embedder.encoded - before == 2  # only the new and the changed text
    idx = VectorIndex.load(index_dir(settings, "intentions"))
    assert "i-new" in idx.position and changed[1]["id"] not in idx.position
    v = shared_embedder.encode(["a dinosaur birthday party"])
    assert idx.search(v, 1)[0][0][0] == "i-new"


def test_an_index_of_another_model_is_refused(ekb, shared_embedder):
    store, settings = ekb
    build_indexes(store, settings, ["intentions"], embedder=shared_embedder)
    other = settings.model_copy(update={"embedding_model": "sentence-transformers/all-mpnet-base-v2"})
    with pytest.raises(ModelMismatch, match="rebuild"):
        build_index(store, other, "intentions")  # refused before any model is loaded
    with pytest.raises(ModelMismatch):
        Retriever(store, other, embedder=shared_embedder)
    res = CliRunner().invoke(
        cli,
        ["--data-dir", str(settings.data_dir), "retrieve", "helmet"],
        env={"INTENTKB_EMBEDDING_MODEL": "sentence-transformers/all-mpnet-base-v2", "INTENTKB_GRAPH": settings.graph_name},
    )
    assert res.exit_code == 1 and "was built with sentence-transformers/all-MiniLM-L6-v2" in res.output


def test_alignment_is_idempotent_and_follows_the_threshold(kb, shared_embedder):
    store, settings = kb
    build_indexes(store, settings, embedder=shared_embedder)
    first = align_steps(store, settings, embedder=shared_embedder)
    edges = _aligned(store)
    assert first.edges == len(edges) == first.edges_created > 0
    assert all(score >= 0.45 for _, _, score in edges)
    per_step: dict[str, int] = {}
    for s, _, _ in edges:
        per_step[s] = per_step.get(s, 0) + 1
    assert max(per_step.values()) <= 10 and first.aligned_steps == len(per_step)
    counts = store.counts()

    second = align_steps(store, settings, embedder=shared_embedder)
    assert (second.edges_created, second.edges_deleted) == (0, 0) and _aligned(store) == edges
    assert store.counts() == counts

    strict = align_steps(store, settings, threshold=0.6, top_k=1, embedder=shared_embedder)
    kept = _aligned(store)
    assert strict.edges == len(kept) < len(edges) and strict.edges_deleted == len(edges) - len(kept)
    assert all(score >= 0.6 for _, _, score in kept) and len({s for s, _, _ in kept}) == len(kept)
    # the walk the issue asks for: Script -> Step -> Intention -> Product, in Cypher
    walk = store.run(
        "MATCH (c:Script {objective: $o})-[:HAS_STEP]->(s:Step)-[:ALIGNED]->(:Intention)-[:EXPLAINS]->(p:Product) "
        "RETURN s.idx AS idx, p.id AS product ORDER BY idx",
        {"o": LONGBOARD},
    )
    assert {"idx": 1, "product": "B07KMVJJK7"} in walk


def test_retrieve_merges_products_and_walks_script_steps(kb, shared_embedder):
    """The intention path alone (the paper's: alignment and the ESB tasks use it)."""
    store, settings = kb
    build_indexes(store, settings, embedder=shared_embedder)
    with Retriever(store, settings, embedder=shared_embedder, hybrid=False) as r:
        hits = r.retrieve("a present for a child who loves dinosaurs", k=5)
        assert hits[0].product == "B07PF1R8LS" and "dinosaur" in hits[0].intention_text
        assert len({h.product for h in hits}) == len(hits) == 5
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # two purchase intentions explain the DB longboard: one row, both counted
        board = [h for h in r.retrieve("learn to ride a longboard", k=10) if h.product == "B07KMVJJK7"]
        assert len(board) == 1 and board[0].intentions == 2

        script = _script(store)
        searched = r.retrieve_script(script, k=2)  # not aligned yet: searched with the 0.45 threshold
        assert [s.idx for s in searched] == [1, 2, 3, 4, 5] and {s.source for s in searched} == {"search"}
        align_steps(store, settings, embedder=shared_embedder)
        aligned = r.retrieve_script(script, k=2)
        # a step its aligned intentions lead to no product from says so: searched now, nothing found either
        assert "aligned" in {s.source for s in aligned} and all(s.source == ("aligned" if s.products else "search") for s in aligned)
        assert all(h.paths == ["intention"] and not h.weak for s in aligned for h in s.products)
        assert aligned[1].products[0].product == "B01MYTOKV8"  # step 2, the helmet
        assert all(h.score >= 0.45 for s in aligned for h in s.products)
        # with aligned edges, retrieval follows the graph: the same products the search found
        assert [[h.product for h in s.products] for s in aligned] == [[h.product for h in s.products] for s in searched]


def test_retrieve_cli_table_and_json(ekb, shared_embedder):
    store, settings = ekb
    build_indexes(store, settings, embedder=shared_embedder)
    env = {"INTENTKB_GRAPH": settings.graph_name}
    base = ["--data-dir", str(settings.data_dir)]
    res = CliRunner().invoke(cli, [*base, "retrieve", "protective gear for skating", "-k", "3", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [p["rank"] for p in out["products"]] == [1, 2, 3]
    assert {"product", "title", "score", "intention", "intention_text", "why", "kind", "via", "intentions"} <= set(out["products"][0])
    assert out["products"][0]["product"] in {"B01MYTOKV8", "B008O30AQO"}
    res = CliRunner().invoke(cli, [*base, "retrieve", "--script", _script(store), "-k", "1"], env=env)
    assert res.exit_code == 0, res.output
    assert "step 1: Choose a complete longboard" in res.output and "[searched now]" in res.output
    res = CliRunner().invoke(cli, [*base, "retrieve", "--script", "no-such-script"], env=env)
    assert res.exit_code == 1 and "no script 'no-such-script'" in res.output
    res = CliRunner().invoke(cli, [*base, "retrieve"], env=env)
    assert res.exit_code == 2


def test_fusion_by_reciprocal_rank_pairs_and_weak_marks():
    """Hand-computed: RRF with k = 60 over the two rankings."""
    from intentkb.retrieval.fusion import ProductHit, fuse

    by_intention = [
        ProductHit(product="a", title="A", score=0.8, intention="i1", intention_text="x", kind="cobuy", via="EXPLAINS"),
        ProductHit(product="b", title="B", score=0.8, intention="i1", intention_text="x", kind="cobuy", via="EXPLAINS"),
        ProductHit(product="c", title="C", score=0.3, intention="i2", intention_text="y", kind="purchase", via="EXPLAINS"),
    ]
    direct = [("c", 0.7), ("d", 0.2)]
    hits = fuse(by_intention, direct, {"d": "D"}, k=10, weak_product=0.5)
    # a path votes only where it vouches (intention cosine >= 0.45, product cosine >= 0.5), ranked among those:
    # a: intention rank 1 -> 1/61 (b, its pair, rank 2, merged into it); c: product rank 1 -> 1/61; d: weak, last
    assert [h.product for h in hits] == ["a", "c", "d"]
    a, c, d = hits
    assert a.score == c.score == round(1 / 61, 6) and d.score == round((1 / 62) / 100, 6)
    assert (a.pair, a.pair_title) == ("b", "B") and c.paths == ["intention", "product"] and d.paths == ["product"]
    assert not c.weak and not a.weak and d.weak  # c: its product text scores 0.7 >= 0.5; d: 0.2, no intention
    assert d.why == "its own title, category and attributes match"


def test_hybrid_retrieve_reaches_products_without_intentions(kb, shared_embedder, tmp_path):
    store, settings = kb
    ingest_file(store, "cobuy", Path(__file__).parents[1] / "fixtures" / "mind_sample.csv", rejects_path=tmp_path / "c.jsonl")
    reports = {r.name: r for r in build_indexes(store, settings, embedder=shared_embedder)}
    meta = VectorIndex.load(index_dir(settings, "products")).meta
    assert reports["products"].count > 0 and meta.weak_below is not None and 0 < meta.weak_below < 1 and "Youden" in meta.calibrated_on
    lonely = store.run(
        "MATCH (p:Product) WHERE p.title IS NOT NULL AND NOT (p)<-[:EXPLAINS|AT]-(:Intention) RETURN p.id AS id, p.title AS title ORDER BY id LIMIT 1"
    )[0]
    with Retriever(store, settings, embedder=shared_embedder) as r:
        hits = r.retrieve(lonely["title"], k=5)
        found = {h.product: h for h in hits}
        assert lonely["id"] in found, hits  # no intention leads to it: reachable through its own text only
        assert found[lonely["id"]].paths == ["product"] and not found[lonely["id"]].weak
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # a co-buy intention's own text: both products of its pair, one hit
        pair = store.run(
            "MATCH (a:Product)<-[:EXPLAINS {role: 'a'}]-(i:Intention {kind: 'cobuy'})-[:EXPLAINS {role: 'b'}]->(b:Product) "
            "RETURN i.text AS text, a.id AS a, b.id AS b ORDER BY i.id LIMIT 1"
        )[0]
        hits = r.retrieve(pair["text"], k=5)
        merged = [h for h in hits if h.pair]
        assert merged and {merged[0].product, merged[0].pair} == {pair["a"], pair["b"]}
        assert not ({pair["a"], pair["b"]} & {h.product for h in hits if h is not merged[0]})
        # a need nothing in the graph serves: every hit marked weak
        assert all(h.weak for h in r.retrieve("quantum chromodynamics lattice simulation lecture", k=5))
        # a batch (what `serve` sends for the requests waiting together) answers each text as alone
        texts = [lonely["title"], pair["text"], "quantum chromodynamics lattice simulation lecture", "a gift for a child"]
        assert r.retrieve_many(texts, k=5) == [r.retrieve(t, k=5) for t in texts]
        assert r.retrieve_many(texts, k=3, threshold=0.5) == [r.retrieve(t, k=3, threshold=0.5) for t in texts]
