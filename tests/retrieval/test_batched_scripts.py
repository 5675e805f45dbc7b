"""Script requests are answered in batches: the same answer as one at a time, and a script that is
not there fails its own place only."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentkb.demo import DEMO_FILES, data_path
from intentkb.errors import IntentKBError
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever


@pytest.fixture
def scripted(estore: GraphStore, tmp_path: Path) -> tuple[GraphStore, Embedder, list[str]]:
    embedder = Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path / "embeddings.sqlite"))
    for kind, name, fmt in DEMO_FILES:
        ingest_file(estore, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects")
    build_indexes(estore, estore.settings, embedder=embedder)
    scripts = [r["id"] for r in estore.run("MATCH (c:Script) RETURN c.id AS id ORDER BY id")]
    align_steps(estore, estore.settings, scripts=scripts[:2], embedder=embedder)  # some aligned, some searched on the fly
    return estore, embedder, scripts


def test_a_batch_of_scripts_answers_what_each_alone_answers(scripted):
    store, embedder, scripts = scripted
    asked = [*scripts, scripts[0], "no-such-script"]
    with Retriever(store, store.settings, embedder=embedder) as r:
        together = r.retrieve_scripts(asked, 4)
        alone = [r.retrieve_script(s, 4) for s in scripts]
    assert len(together) == len(asked)
    assert isinstance(together[-1], IntentKBError) and "no-such-script" in str(together[-1])
    for got, want in zip(together[: len(scripts)], alone):
        assert not isinstance(got, IntentKBError)
        assert [s.model_dump() for s in got] == [s.model_dump() for s in want]
    assert together[len(scripts)] == together[0]
    sources = {s.source for got in together[: len(scripts)] if not isinstance(got, IntentKBError) for s in got}
    assert sources == {"aligned", "search"}
