"""Embedded server life cycle: start, reuse, unix socket only, kill -9 recovery, stop, many clients."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intentkb.config import Settings
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.falkordb.supervision import read_state, supervisor_running

from ..conftest import FIXTURES


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in open(table).read().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A":  # LISTEN
                    inodes.add(parts[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def test_start_reuse_status_stop(data_dir):
    srv = EmbeddedServer(data_dir)
    assert srv.status().running is False
    assert srv.start() is True
    pid = srv.status().pid
    assert pid and srv.status().running
    assert srv.start() is False and srv.status().pid == pid  # reused, not a second server
    assert stat.S_IMODE(os.stat(srv.dir).st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(srv.socket).st_mode)
    assert stat.S_IMODE(os.stat(srv.socket).st_mode) & 0o077 == 0
    assert not (socket_inodes(pid) & listening_tcp_inodes()), "the embedded server must not listen on TCP"
    assert srv.stop() is True
    assert srv.status().running is False and not srv.socket.exists()
    assert not EmbeddedServer._alive(pid)  # gone (a zombie awaiting init's reaping counts as gone)
    assert srv.stop() is False


def _load_and_kill(data_dir: Path, *, supervisor_too: bool) -> tuple[dict, int]:
    settings = Settings(data_dir=data_dir, graph_uri="embedded")
    from intentkb.ingest import ingest_file

    with open_store(settings) as st:
        ingest_file(st, "scripts", FIXTURES / "coscript_sample.jsonl")
        before = st.counts()
        # a write acknowledged just before the kill, with no compaction after it
        st.run("CREATE (:Product {id: 'last-write', asin: 'last-write'})", write=True)
        st.wrote = False
    srv = EmbeddedServer(data_dir)
    if supervisor_too:
        os.kill(read_state(srv.dir)["pid"], signal.SIGKILL)
        deadline = time.time() + 10
        while supervisor_running(srv.dir) and time.time() < deadline:
            time.sleep(0.02)
    pid = int(srv.pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    return before, pid


def _assert_intact(data_dir: Path, before: dict) -> None:
    with open_store(Settings(data_dir=data_dir, graph_uri="embedded")) as st:
        after = st.counts()
        assert st.run("MATCH (p:Product {id: 'last-write'}) RETURN count(p) AS n") == [{"n": 1}]
    assert after["nodes"]["Product"] == before["nodes"]["Product"] + 1
    assert {k: v for k, v in after["nodes"].items() if k != "Product"} == {k: v for k, v in before["nodes"].items() if k != "Product"}


def test_a_killed_server_is_restarted_by_its_supervisor_and_loses_nothing(data_dir):
    before, pid = _load_and_kill(data_dir, supervisor_too=False)
    srv = EmbeddedServer(data_dir)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15 and (srv.ping() != "ok" or srv._pid() in (None, pid)):
        time.sleep(0.02)
    took = time.monotonic() - t0
    assert srv.ping() == "ok" and srv._pid() not in (None, pid), "no one restarted the server"
    assert took < 5, took
    while time.monotonic() - t0 < 15 and srv.restarts()["last"]["outcome"] != "restarted":
        time.sleep(0.02)
    last = srv.restarts()["last"]
    assert last["by"] == "supervisor" and "died" in last["reason"] and last["outcome"] == "restarted"
    _assert_intact(data_dir, before)


def test_without_its_supervisor_a_stale_socket_still_recovers(data_dir):
    before, pid = _load_and_kill(data_dir, supervisor_too=True)
    srv = EmbeddedServer(data_dir)
    deadline = time.time() + 10
    while time.time() < deadline and EmbeddedServer._alive(pid):
        time.sleep(0.05)
    assert srv.socket.exists() and srv.pidfile.exists()  # stale files left behind by the crash
    assert srv.status().running is False
    _assert_intact(data_dir, before)  # restarts on demand
    assert int(srv.pidfile.read_text()) != pid
    assert supervisor_running(srv.dir)  # and the next command brought a supervisor back


def test_many_cli_processes_at_once_share_one_server(data_dir):
    env = {**os.environ, "INTENTKB_HOME": str(data_dir), "INTENTKB_GRAPH_URI": "embedded"}
    cmd = [sys.executable, "-m", "intentkb.cli.main"]
    procs = [
        subprocess.Popen(
            cmd + ["ingest", "scripts", str(FIXTURES / "coscript_sample.jsonl")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    procs += [
        subprocess.Popen(
            cmd + ["cypher", "--format", "json", "MATCH (s:Script) RETURN count(s) AS n"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    servers = subprocess.run(["pgrep", "-f", f"unixsocket:{EmbeddedServer(data_dir).socket}"], capture_output=True, text=True).stdout.split()
    assert len(servers) == 1
    with open_store(Settings(data_dir=data_dir, graph_uri="embedded")) as st:
        assert st.counts()["nodes"]["Script"] == 20


def test_cli_store_commands(data_dir):
    """`intentkb store` (it was `intentkb server`, a letter away from `serve`; that name still works)."""
    env = {**os.environ, "INTENTKB_HOME": str(data_dir), "INTENTKB_GRAPH_URI": "embedded"}
    cmd = [sys.executable, "-m", "intentkb.cli.main", "store"]
    status = subprocess.run(cmd + ["status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3 and "False" in status.stdout
    assert "started" in subprocess.run(cmd + ["start"], env=env, capture_output=True, text=True).stdout
    assert "already running" in subprocess.run(cmd + ["start"], env=env, capture_output=True, text=True).stdout
    assert subprocess.run(cmd + ["status", "--format", "json"], env=env, capture_output=True, text=True).returncode == 0
    assert "stopped" in subprocess.run(cmd + ["stop"], env=env, capture_output=True, text=True).stdout
    old = [sys.executable, "-m", "intentkb.cli.main", "server"]
    assert "started" in subprocess.run(old + ["start"], env=env, capture_output=True, text=True).stdout
    assert "stopped" in subprocess.run(old + ["stop"], env=env, capture_output=True, text=True).stdout


def test_socket_path_too_long_is_a_clear_error(tmp_path):
    from intentkb.errors import StoreError

    with pytest.raises(StoreError, match="too long"):
        EmbeddedServer(Path("/tmp") / ("x" * 120))


def test_module_arguments_keep_the_users_and_add_our_defaults():
    from intentkb.kb.falkordb import module_args

    defaults = "THREAD_COUNT 6 TIMEOUT_DEFAULT 30000 TIMEOUT_MAX 3600000 QUERY_MEM_CAPACITY 1073741824"
    assert module_args("") == "OMP_THREAD_COUNT 1 " + defaults
    assert module_args("TIMEOUT_MAX 1000") == "TIMEOUT_MAX 1000 OMP_THREAD_COUNT 1 THREAD_COUNT 6 TIMEOUT_DEFAULT 30000 QUERY_MEM_CAPACITY 1073741824"
    assert module_args("omp_thread_count 4").startswith("omp_thread_count 4 THREAD_COUNT 6")
