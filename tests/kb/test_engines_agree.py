"""Whole paths on both engines: the same input gives the same graph, trajectories, alignment,
retrieval and task items on the embedded FalkorDB store and on a real Neo4j 5."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.demo import DEMO_FILES, DEMO_QUERY, DEMO_SCRIPT, data_path
from intentkb.errors import ReadOnlyViolation
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.queries import iter_trajectories
from intentkb.kb.store import GraphStore
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever

from ..conftest import FIXTURES, _drop
from ..ingest.test_bulk import dump

EXTRA_FILES = [  # every other reader, so that each kind is loaded on both engines
    ("products", FIXTURES / "m2_products.csv", "m2"),
    ("sessions", FIXTURES / "m2_sessions.csv", "m2"),
    ("cobuy", FIXTURES / "intentionqa_sample.jsonl", "intentionqa"),
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "embeddings.sqlite"))


def build(store: GraphStore, settings: Settings, embedder: Embedder, out: Path) -> dict:
    """Load everything, index, align, retrieve and export; what came out, engine-neutral."""
    for kind, name, fmt in DEMO_FILES:
        ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=out / "r.jsonl")
    for kind, path, fmt in EXTRA_FILES:
        ingest_file(store, kind, path, fmt=fmt, rejects_path=out / "r.jsonl")
    graph = dump(store)
    trajectories = sorted(json.dumps(t, sort_keys=True) for t in iter_trajectories(store))
    build_indexes(store, settings, embedder=embedder)
    report = align_steps(store, settings, embedder=embedder)
    aligned = sorted(
        (r["s"], r["i"], round(r["score"], 4)) for r in store.run("MATCH (s:Step)-[a:ALIGNED]->(i:Intention) RETURN s.id AS s, i.id AS i, a.score AS score")
    )
    script = store.run("MATCH (c:Script {objective: $o}) RETURN c.id AS id", {"o": DEMO_SCRIPT})[0]["id"]
    with Retriever(store, settings, embedder=embedder) as r:
        per_step = [[(h.product, round(h.score, 4)) for h in s.products] for s in r.retrieve_script(script, k=3)]
        free = [(h.product, round(h.score, 4)) for h in r.retrieve(DEMO_QUERY, k=5)]
    items = {}
    for bench in ("sib", "esb", "iqa"):
        path = out / f"{bench}.jsonl"
        export_tasks(store, settings, ExportOptions(benchmark=bench, output=path))
        items[bench] = sorted(path.read_text().splitlines())
    with pytest.raises(ReadOnlyViolation):
        store.run("CREATE (:Product {id: 'written-read-only'})")
    return {
        "graph": graph,
        "trajectories": trajectories,
        "aligned": aligned,
        "aligned_report": (report.steps, report.edges),
        "per_step": per_step,
        "free": free,
        "items": items,
        "counts": store.counts(),
    }


@pytest.fixture
def both(server_dir: Path, neo4j_uri: str, tmp_path: Path) -> Iterator[tuple[tuple[GraphStore, Settings], tuple[GraphStore, Settings]]]:
    emb_settings = Settings(data_dir=server_dir, graph_uri="embedded", graph_name=f"t{uuid.uuid4().hex[:12]}")
    neo_settings = Settings(data_dir=tmp_path / "neo4j", graph_uri=neo4j_uri)
    emb, neo = open_store(emb_settings), open_store(neo_settings)
    _drop(neo)
    try:
        yield (emb, emb_settings), (neo, neo_settings)
    finally:
        for st in (emb, neo):
            _drop(st)
            st.close()


def test_the_demo_data_gives_the_same_everything_on_both_engines(both, embedder, tmp_path):
    (emb, es), (neo, ns) = both
    (tmp_path / "e").mkdir()
    (tmp_path / "n").mkdir()
    a = build(emb, es, embedder, tmp_path / "e")
    b = build(neo, ns, embedder, tmp_path / "n")
    assert a["counts"] == b["counts"]
    assert a["graph"][0] == b["graph"][0]  # every node with every property
    assert a["graph"][1] == b["graph"][1]  # every edge with its ends and properties
    assert len(a["graph"][0]) > 200 and len(a["trajectories"]) > 10
    assert a["trajectories"] == b["trajectories"]
    assert a["aligned"] == b["aligned"] and a["aligned_report"] == b["aligned_report"] and a["aligned"]
    assert a["per_step"] == b["per_step"] and a["free"] == b["free"]
    for bench in ("sib", "esb", "iqa"):
        assert a["items"][bench], bench
        assert a["items"][bench] == b["items"][bench], bench
