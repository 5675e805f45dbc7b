"""`intentkb demo` from a clean directory, as a user runs it, offline, in under a minute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from ..conftest import short_tmpdir


def test_demo_builds_and_queries_offline(demo_home):
    # INTENTKB_HOME set and no --data-dir: the demo builds there (it used to build in a new temporary
    # directory, and the next `intentkb stats` showed zeros)
    home, r, elapsed, left_running = demo_home
    env = {**os.environ, "INTENTKB_GRAPH_URI": "embedded", "INTENTKB_HOME": str(home)}
    env.pop("INTENTKB_GRAPH", None)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "read 48 = loaded 48 + rejected 0" in out and "read 120 = loaded 120 + rejected 0" in out
    assert "read 6 = loaded 6 + rejected 0" in out and "read 3 = loaded 3 + rejected 0" in out
    assert "read 35 = loaded 35 + rejected 0" in out
    assert "Intention 180" in out and "ROOT 3" in out
    assert "nodes per step {1: 1, 2: 2, 3: 4, 4: 4}, shape ok" in out
    assert "4 trajectories" in out and "step 4 @ B008O30AQO" in out
    # retrieval: indexes built, steps aligned, products found for a script step and for free text
    assert "intentions: rebuilt flat index of 180 vectors" in out and "steps: rebuilt flat index of 29 vectors" in out
    assert "ALIGNED edges (cosine >= 0.45" in out
    assert "2. Buy a certified skateboarding helmet that fits snugly.\n       -> Triple Eight" in out
    retrieved = out.split('intentkb retrieve "a present for a child who loves dinosaurs" -k 3')[1]
    top = retrieved.splitlines()[1]
    assert top.split()[0] == "intention+product" and "Terra by Battat" in top and "dinosaur" in top.split("<-")[1]
    assert "products: rebuilt flat index of 288 vectors" in out
    # every benchmark's tasks from the demo graph, SFT files and the session page
    assert "sib: sib-t1 8, sib-t2 8, sib-t3 12, sib-t4 12   (12 trajectories)" in out
    assert "esb: esb-t1 12, esb-t2 " in out and "iqa: iqa-t1 " in out
    assert (home / "tasks" / "sft" / "dataset_info.json").is_file()
    assert (home / "session-demo-skate.html").read_text().count('<button type="button" class="node') == 11
    assert elapsed < 60
    assert not left_running  # the demo stops what it started (read as it ended: the MCP tests start this home's store again)
    # everything under INTENTKB_HOME is the user's alone whatever the umask (issue 26, finding 7:
    # the AOF/RDB, server.log, server.pid, *.lock, tasks/ and the HTML were 0755/0644)
    loose = [
        (str(p), oct(p.stat().st_mode & 0o777))
        for p in [home, *(home).rglob("*")]
        if (p.stat().st_mode & 0o777) != (0o700 if p.is_dir() else 0o600) and not p.is_socket()
    ]
    assert loose == []
    stats = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "stats", "--format", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert stats.returncode == 0, stats.stderr
    assert '"Intention"' in stats.stdout and "180" in stats.stdout


def test_demo_without_a_home_cleans_up_after_itself():
    """No INTENTKB_HOME and no --data-dir: the demo builds in a temporary directory, stops its
    server and removes the directory, and says so (nothing left in TMPDIR, nothing in ~)."""
    d = short_tmpdir("ikbe-")
    try:
        (d / "tmp").mkdir()
        (d / "home").mkdir()
        env = {**os.environ, "TMPDIR": str(d / "tmp"), "HOME": str(d / "home"), "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        for k in ("INTENTKB_HOME", "INTENTKB_GRAPH", "INTENTKB_GRAPH_URI"):
            env.pop(k, None)
        r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "demo"], env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        assert "in a temporary directory, now removed" in r.stdout
        assert [p.name for p in (d / "tmp").iterdir() if p.name.startswith("intentkb-demo-")] == []
        assert not (d / "home" / ".intentkb").exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_ctrl_c_during_the_demo_leaves_nothing_behind():
    """Finding 7: Ctrl-C during `intentkb demo` left its temporary directory and a running FalkorDB."""
    import signal

    d = short_tmpdir("ikbc-")
    try:
        (d / "tmp").mkdir()
        env = {**os.environ, "TMPDIR": str(d / "tmp"), "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        for k in ("INTENTKB_HOME", "INTENTKB_GRAPH", "INTENTKB_GRAPH_URI"):
            env.pop(k, None)
        proc = subprocess.Popen([sys.executable, "-m", "intentkb.cli.main", "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = ""
        while proc.stdout and "building the demo knowledge base in" not in first:
            first = proc.stdout.readline()
            if not first:
                break
        home = d / "tmp" / first.strip().rsplit("/", 1)[-1]
        assert "building the demo knowledge base in" in first and home.is_dir(), first
        deadline = time.monotonic() + 60
        while not (home / "falkordb" / "kb.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert not home.exists()
        left = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
        assert left == [], left  # neither its server nor its supervisor
    finally:
        shutil.rmtree(d, ignore_errors=True)
