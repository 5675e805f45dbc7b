"""A load killed with SIGKILL at a random point leaves a consistent graph (every tree whole or
absent), and a re-run ends with exactly the graph of an uninterrupted load."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.generate.schedule import BranchingSchedule
from intentkb.ingest.synthetic import forest_totals, synthetic_forest
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.queries import iter_session_ids, session_tree, tree_profile

from ..conftest import short_tmpdir

LENGTHS = {3: 60, 4: 40, 5: 30}  # 16,950 intention nodes


@pytest.fixture(scope="module")
def forest(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("forest") / "forest.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in synthetic_forest(LENGTHS, products=300, seed=11)))
    return f


def ingest_cmd(forest: Path) -> list[str]:
    return [sys.executable, "-m", "intentkb.cli.main", "ingest", "trees", str(forest), "--batch-size", "1000", "--mode", "merge"]


def env_for(d: Path) -> dict[str, str]:
    return {**os.environ, "INTENTKB_HOME": str(d), "INTENTKB_GRAPH_URI": "embedded"}


def roots(d: Path) -> int:
    with open_store(Settings(data_dir=d, graph_uri="embedded")) as st:
        return st.run("MATCH (:Session)-[r:ROOT]->() RETURN count(r) AS n")[0]["n"]


def assert_trees_whole(d: Path) -> int:
    """Every session with a tree has all of it: batches are atomic and hold whole trees."""
    schedule = BranchingSchedule()
    n = 0
    with open_store(Settings(data_dir=d, graph_uri="embedded")) as st:
        for sid in iter_session_ids(st):
            g = session_tree(st, sid)
            if g.number_of_nodes():
                prof = tree_profile(g)
                assert list(prof.values()) == schedule.nodes_per_step(max(prof)), sid
                n += 1
    return n


def wait_for_progress(d: Path, proc: subprocess.Popen, at_least: int) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if roots(d) >= at_least:
                return
        except Exception:
            pass
        time.sleep(0.05)


def final_counts(d: Path) -> dict:
    with open_store(Settings(data_dir=d, graph_uri="embedded")) as st:
        return st.counts()


@pytest.fixture(scope="module")
def reference(forest, tmp_path_factory) -> dict:
    d = short_tmpdir("ikbr-")
    try:
        subprocess.run(ingest_cmd(forest), env=env_for(d), check=True, capture_output=True, timeout=300)
        return final_counts(d)
    finally:
        EmbeddedServer(d).stop()
        shutil.rmtree(d, ignore_errors=True)


def test_reference_load_matches_the_forest(reference):
    totals = forest_totals(LENGTHS)
    assert reference["nodes"]["Intention"] == totals["intentions"]
    assert reference["nodes"]["Session"] == totals["sessions"] == reference["edges"]["ROOT"]


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_of_the_loader_then_rerun(forest, reference, data_dir, seed):
    rng = random.Random(seed)
    proc = subprocess.Popen(ingest_cmd(forest), env=env_for(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_progress(data_dir, proc, at_least=rng.randint(1, 80))
    time.sleep(rng.random() * 0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = assert_trees_whole(data_dir)
    assert partial < sum(LENGTHS.values()), "the load finished before the kill; the test proves nothing"
    subprocess.run(ingest_cmd(forest), env=env_for(data_dir), check=True, capture_output=True, timeout=300)
    assert final_counts(data_dir) == reference
    assert assert_trees_whole(data_dir) == sum(LENGTHS.values())


def test_sigkill_of_the_server_mid_load_is_survived(forest, reference, data_dir):
    """The server is killed under a running load: its supervisor (or the loader) starts it again
    from its own files, the loader sends the batch it lost once more (an idempotent MERGE), and
    the load ends with the graph of an uninterrupted one."""
    proc = subprocess.Popen(ingest_cmd(forest), env=env_for(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_progress(data_dir, proc, at_least=30)
    srv = EmbeddedServer(data_dir)
    pid = int(srv.pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-800:]
    assert srv._pid() not in (None, pid)
    assert final_counts(data_dir) == reference
    assert assert_trees_whole(data_dir) == sum(LENGTHS.values())
