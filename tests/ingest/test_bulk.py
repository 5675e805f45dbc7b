"""The bulk tree path builds exactly the graph of the MERGE path, refuses what it cannot do, and a
crash mid-way leaves the target graph untouched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.demo import data_path
from intentkb.errors import IntentKBError
from intentkb.ingest import ingest_file
from intentkb.ingest.synthetic import synthetic_forest
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.falkordb.bulk_format import edge_blob, encode_value, node_blob
from intentkb.kb.store import GraphStore

from ..conftest import FIXTURES, short_tmpdir
from ..ingest.test_crash import env_for, final_counts
from ..ingest.test_ingest import rejects, with_bad_lines


def dump(store: GraphStore) -> tuple[list, list]:
    """Every node (label, properties) and edge (type, end ids, properties), sorted: two graphs are
    the same graph when their dumps are equal."""
    nodes = store.run("MATCH (n) RETURN labels(n) AS l, properties(n) AS p")
    edges = store.run("MATCH (a)-[e]->(b) RETURN type(e) AS t, a.id AS a, b.id AS b, properties(e) AS p")
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    return sorted(map(key, nodes)), sorted(map(key, edges))


@pytest.fixture
def tricky_forest(tmp_path: Path) -> tuple[Path, list[int]]:
    """Demo trees + a synthetic forest, with a session repeated under a changed text (the MERGE
    path merges it), a product repeated under another title (first appearance wins on both paths),
    and bad lines."""
    demo = data_path("trees.jsonl").read_text().splitlines()
    forest = [json.dumps(r) for r in synthetic_forest({3: 6, 4: 4, 5: 3}, products=40, seed=5)]
    again = json.loads(demo[0])
    again["intentions"][0]["text"] = "Re-generated root intention."
    again["intentions"][0].pop("rationale", None)
    retitled = json.loads(demo[1])
    retitled["session_id"] = "demo-retitled"
    retitled["products"][0]["title"] = "Another title for the same product"
    src = tmp_path / "src.jsonl"
    src.write_text("\n".join(demo + forest[:7] + [json.dumps(again)] + forest[7:] + [json.dumps(retitled), ""]))
    bad_node = json.loads(demo[2])
    bad_node["intentions"][0]["children"][0]["text"] = ""
    f = tmp_path / "trees.jsonl"
    bad = with_bad_lines(src, f, ["{not json", json.dumps(bad_node), json.dumps({"products": [], "intentions": []})])
    return f, bad


def settings_for(server_dir: Path) -> Settings:
    return Settings(data_dir=server_dir, graph_uri="embedded", graph_name=f"t{uuid.uuid4().hex[:12]}")


@pytest.mark.parametrize("workers,chunk", [(0, None), (2, 3000)])
def test_bulk_builds_the_graph_of_the_merge_path(server_dir, tricky_forest, tmp_path, workers, chunk, monkeypatch):
    f, bad = tricky_forest
    if chunk:  # many small chunks through real worker processes
        monkeypatch.setattr("intentkb.ingest.bulk_trees.CHUNK_BYTES", chunk)
    results = {}
    for mode in ("merge", "bulk"):
        with open_store(settings_for(server_dir)) as st:
            s = ingest_file(st, "trees", f, mode=mode, workers=workers, rejects_path=tmp_path / f"{mode}.rej")
            results[mode] = (s, dump(st), rejects(tmp_path / f"{mode}.rej"), st.counts())
            st.db.connection.delete(st.graph.name)
    (ms, mdump, mrej, mcounts), (bs, bdump, brej, bcounts) = results["merge"], results["bulk"]
    assert bs.mode == "bulk" and ms.mode == "merge"
    assert (bs.read, bs.loaded, bs.rejected) == (ms.read, ms.loaded, ms.rejected) == (ms.loaded + 3, ms.loaded, 3)
    assert [r["line"] for r in brej] == [r["line"] for r in mrej] == bad
    assert [r["reason"] for r in brej] == [r["reason"] for r in mrej]
    assert bcounts == mcounts
    assert bdump == mdump
    assert any("Re-generated root intention." in n for n in bdump[0])
    assert bs.written.nodes_created == ms.written.nodes_created
    assert bs.written.relationships_created == ms.written.relationships_created


def test_bulk_then_rerun_adds_nothing(estore, tricky_forest, tmp_path):
    f, _ = tricky_forest
    first = ingest_file(estore, "trees", f, rejects_path=tmp_path / "r.jsonl")
    assert first.mode == "bulk"
    counts = estore.counts()
    again = ingest_file(estore, "trees", f, rejects_path=tmp_path / "r.jsonl")  # not empty now: MERGE
    assert again.mode == "merge"
    assert again.written.nodes_created == again.written.relationships_created == 0
    assert estore.counts() == counts


def test_bulk_refuses_a_graph_with_data_and_auto_merges(estore, tmp_path):
    ingest_file(estore, "products", FIXTURES / "catalog_sample.csv", rejects_path=tmp_path / "p.jsonl")
    with pytest.raises(IntentKBError, match="not empty"):
        ingest_file(estore, "trees", data_path("trees.jsonl"), mode="bulk")
    s = ingest_file(estore, "trees", data_path("trees.jsonl"))
    assert s.mode == "merge" and s.loaded == 3
    with pytest.raises(IntentKBError, match="only intention trees"):
        ingest_file(estore, "products", FIXTURES / "catalog_sample.csv", mode="bulk")


def test_bulk_refuses_a_wrong_file_before_writing(estore, tmp_path):
    with pytest.raises(IntentKBError, match="missing keys"):
        ingest_file(estore, "trees", FIXTURES / "intentionqa_sample.jsonl", mode="bulk")
    assert estore.counts()["nodes"]["Intention"] == 0


def test_bulk_format_values():
    assert encode_value(None) == b"\x00"
    assert encode_value(True) == b"\x01\x01"
    assert encode_value(3) == b"\x04" + (3).to_bytes(8, "little")
    assert encode_value("é") == b"\x03\xc3\xa9\x00"
    assert encode_value(["a"]) == b"\x05" + (1).to_bytes(8, "little") + b"\x03a\x00"
    with pytest.raises(ValueError, match="NUL"):
        encode_value("a\x00b")
    with pytest.raises(ValueError, match="null"):
        encode_value(["a", None])
    blob = node_blob("Product", [{"id": "p1"}, {"id": "p2", "price": 1.5}])
    assert blob.startswith(b"Product\x00" + (2).to_bytes(4, "little") + b"id\x00price\x00")
    assert blob.endswith(b"\x03p1\x00\x00" + b"\x03p2\x00\x02" + struct.pack("<d", 1.5))
    e = edge_blob("VIEWED", [0], [1], ("pos", [2]))
    assert e == b"VIEWED\x00" + (1).to_bytes(4, "little") + b"pos\x00" + (0).to_bytes(8, "little") + (1).to_bytes(8, "little") + b"\x04" + (2).to_bytes(
        8, "little"
    )


def _bulk_cmd(forest: Path) -> list[str]:
    return [sys.executable, "-m", "intentkb.cli.main", "ingest", "trees", str(forest), "--mode", "bulk", "--workers", "0"]


def test_sigkill_mid_bulk_leaves_the_graph_empty_and_a_rerun_completes(data_dir, tmp_path):
    forest = tmp_path / "forest.jsonl"
    forest.write_text("".join(json.dumps(r) + "\n" for r in synthetic_forest({3: 100, 4: 100, 5: 200}, products=300, seed=3)))
    env = env_for(data_dir)
    proc = subprocess.Popen(_bulk_cmd(forest), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = EmbeddedServer(data_dir)
    deadline = time.time() + 120
    started = False
    while time.time() < deadline and proc.poll() is None:  # kill once the scratch graph holds data
        if srv.socket.exists():
            try:
                with srv.client(timeout=5) as c:
                    if c.exists("intentkb.bulk") and c.execute_command("GRAPH.RO_QUERY", "intentkb.bulk", "MATCH (n:Intention) RETURN count(n)")[1][0][0] > 0:
                        started = True
                        break
            except Exception:
                pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert started, "the bulk load finished before the kill; the test proves nothing"
    os.kill(int(srv.pidfile.read_text()), signal.SIGKILL)  # and the server too: the AOF must hold up
    time.sleep(0.2)
    assert sum(final_counts(data_dir)["nodes"].values()) == 0  # the target graph never saw the partial load
    subprocess.run(_bulk_cmd(forest), env=env, check=True, capture_output=True, timeout=300)
    counts = final_counts(data_dir)
    reference_dir = short_tmpdir("ikbq-")
    try:
        subprocess.run(_bulk_cmd(forest)[:-4] + ["--mode", "merge"], env=env_for(reference_dir), check=True, capture_output=True, timeout=300)
        assert counts == final_counts(reference_dir)
    finally:
        EmbeddedServer(reference_dir).stop()
        shutil.rmtree(reference_dir, ignore_errors=True)
    with srv.client(timeout=5) as c:
        assert not c.exists("intentkb.bulk")  # the scratch graph is gone after the swap


def test_the_bulk_path_hands_an_engine_plain_rows(estore, tmp_path):
    """The bulk tree loader knows no engine's wire format: a loader that keeps the rows it is given
    (its own `encode_rows`) receives the graph the MERGE path writes, label by label and edge type
    by edge type; the FalkorDB blobs are made inside kb/falkordb alone."""
    from intentkb.ingest.bulk_trees import bulk_ingest_trees
    from intentkb.io.rejects import RejectSink
    from intentkb.kb.store import WriteStats

    class Keeping:
        def __init__(self):
            self.next_id, self.stats = 0, WriteStats()
            self.nodes: dict[str, int] = {}
            self.edges: dict[str, int] = {}

        @staticmethod
        def encode_rows(keys, rows):
            return [dict(r) for r in rows]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def send(self, nodes, edges):
            for b in nodes:
                assert b.count == sum(len(p) for p in b.parts) and all(set(r) <= set(b.keys) for p in b.parts for r in p)
                self.nodes[b.label] = self.nodes.get(b.label, 0) + b.count
                self.next_id += b.count
            for e in edges:
                assert len(e.src) == len(e.dst) and all(0 <= int(x) < self.next_id for x in [*e.src, *e.dst])
                self.edges[e.rel] = self.edges.get(e.rel, 0) + len(e.src)

        def check(self, samples):
            pass

        def commit(self):
            pass

    loader = Keeping()

    class Store:
        kind = "keeping"

        def bulk_loader(self):
            return loader

    from intentkb.demo import data_path

    trees = data_path("trees.jsonl")
    out = bulk_ingest_trees(Store(), trees, RejectSink(tmp_path / "r.jsonl", trees, None), workers=0)
    ingest_file(estore, "trees", trees, rejects_path=tmp_path / "m.rejects", mode="merge")
    counts = estore.counts()
    assert out.loaded == out.read > 0
    assert loader.nodes == {k: v for k, v in counts["nodes"].items() if v}
    assert loader.edges == {k: v for k, v in counts["edges"].items() if v}


def test_the_embedded_engines_fast_intention_encoding_matches_the_general_one():
    from intentkb.kb.falkordb.bulk_format import encode_entry, encode_rows
    from intentkb.kb.models import TREE_INTENTION_PROPS

    full = dict(zip(TREE_INTENTION_PROPS, ("i1", "t", "session", 2, "r", "c", "a", "m", "v1", "s")))
    bare = {"id": "i2", "text": "é", "kind": "session", "step": 70}
    rows = [full, bare, full]
    assert encode_rows(TREE_INTENTION_PROPS, rows) == b"".join(encode_entry(r, TREE_INTENTION_PROPS) for r in rows)
    assert encode_rows(("id", "n"), [{"id": "x", "n": 1.5}, {"id": "y"}]) == encode_entry({"id": "x", "n": 1.5}, ("id", "n")) + encode_entry(
        {"id": "y"}, ("id", "n")
    )
