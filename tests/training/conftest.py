"""A small knowledge base of real MIND co-buy records, what the training commands learn from."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def mind_kb(estore: GraphStore, embedded_settings: Settings, tmp_path: Path) -> tuple[GraphStore, Settings]:
    settings = embedded_settings.with_data_dir(tmp_path / "home").model_copy(update={"embedding_threads": 2})
    settings.data_dir.mkdir()
    ingest_file(estore, "cobuy", FIXTURES / "mind_train.csv", rejects_path=tmp_path / "rejects.jsonl")
    return estore, settings
