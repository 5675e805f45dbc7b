"""`intentkb export neo4j-import`: the CSV files that Neo4j's own import tool reads give, once
imported and served, exactly the graph of the store they came from."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.demo import DEMO_FILES, data_path
from intentkb.errors import IntentKBError
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.neo4j.import_files import export_neo4j_import

from ..conftest import FIXTURES, LOCAL_NEO4J, NEO4J_SKIP, short_tmpdir
from ..ingest.test_bulk import dump


def test_export_imports_into_neo4j_as_the_same_graph(server_dir: Path, tmp_path: Path):
    if not (shutil.which("java") and shutil.which("mvn")):
        pytest.skip(NEO4J_SKIP)
    settings = Settings(data_dir=server_dir, graph_uri="embedded", graph_name=f"t{uuid.uuid4().hex[:12]}")
    with open_store(settings) as store:
        for kind, name, fmt in DEMO_FILES:
            ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / "r.jsonl")
        ingest_file(store, "sessions", FIXTURES / "m2_sessions.csv", rejects_path=tmp_path / "r.jsonl")
        store.run("MATCH (s:Step), (i:Intention) WITH s, i LIMIT 3 MERGE (s)-[:ALIGNED {score: 0.625}]->(i)", write=True)
        store.run("MATCH (p:Product {id: 'B07KMVJJK7'}) SET p.desc = 'two\\nlines, a \"quote\" and a ; semicolon'", write=True)
        want = dump(store)
        report = export_neo4j_import(store, tmp_path / "csv")
        with pytest.raises(IntentKBError, match="already holds"):
            export_neo4j_import(store, tmp_path / "csv")
        store.db.connection.delete(store.graph.name)  # type: ignore[attr-defined]
    assert report.nodes["Intention"] > 100 and "VIEWED(Session->Product)" in report.relationships
    d = short_tmpdir("ikbi-")
    try:
        imp = subprocess.run([str(LOCAL_NEO4J), "import", str(d), str(tmp_path / "csv" / "neo4j-admin.args")], capture_output=True, text=True, timeout=600)
        assert imp.returncode == 0 and "IMPORT DONE" in imp.stdout, imp.stdout[-1500:] + imp.stderr[-1500:]
        uri = subprocess.run([str(LOCAL_NEO4J), "start", str(d)], capture_output=True, text=True, timeout=600, check=True).stdout.strip().splitlines()[-1]
        with open_store(Settings(data_dir=tmp_path / "neo", graph_uri=uri)) as neo:
            got = dump(neo)
            neo.setup_schema()  # the uniqueness constraints go on after the import
            assert neo.counts() and len(neo.run("SHOW CONSTRAINTS YIELD name RETURN name")) >= 6
        assert got[0] == want[0]
        assert got[1] == want[1]
        assert sum(report.nodes.values()) == len(want[0]) and sum(report.relationships.values()) == len(want[1])
    finally:
        subprocess.run([str(LOCAL_NEO4J), "stop", str(d)], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)
