"""Generation pipelines end to end: real embedded store, real HTTP server in the OpenAI wire format."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.config import Settings
from intentkb.generate.run import run_generation
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.store import GraphStore

from ..conftest import FIXTURES, TEST_API_KEY

TREE_5 = [1, 5, 25, 125, 125]  # nodes per step, the paper's schedule, 5 products
CALLS_5 = 1 + 1 + 5 + 25 + 125  # one call for the root, one per node with children
CALLS_3 = 1 + 1 + 5


def load_sessions(store: GraphStore, tmp_path: Path) -> dict[int, str]:
    ingest_file(store, "products", FIXTURES / "m2_products.csv", rejects_path=tmp_path / "p.rejects.jsonl")
    ingest_file(store, "sessions", FIXTURES / "m2_sessions_gen.csv", rejects_path=tmp_path / "s.rejects.jsonl")
    return {r["length"]: r["id"] for r in store.run("MATCH (s:Session) RETURN s.id AS id, s.length AS length")}


def _bytes(p: Path) -> bytes:
    """A file's bytes, or none when the server's AOF rewrite removed it since it was listed."""
    try:
        return p.read_bytes()
    except FileNotFoundError:
        return b""


def gen(pipeline: str, settings: Settings, llm, **opts):
    return run_generation(pipeline, settings, llm, {"progress": False, **opts})


def dump(store: GraphStore) -> tuple[list[str], list[str]]:
    """Every node and edge with all properties, sorted: two graphs are equal when their dumps are."""
    nodes = sorted(
        json.dumps([sorted(r["labels"]), r["props"]], sort_keys=True) for r in store.run("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    )
    edges = sorted(
        json.dumps([r["t"], r["a"], r["b"], r["props"]], sort_keys=True)
        for r in store.run("MATCH (a)-[r]->(b) RETURN type(r) AS t, a.id AS a, b.id AS b, properties(r) AS props")
    )
    return nodes, edges


def steps_of(store: GraphStore, session: str) -> list[int]:
    c = Counter(r["step"] for r in store.run("session_tree", {"session": session}))
    return [c[k] for k in sorted(c)]


@pytest.mark.parametrize("output", ["json", "lines"])
def test_attributes_then_tree_of_a_five_product_session(estore, tmp_path, llm_server, llm_settings, output):
    llm_settings = llm_settings.model_copy(update={"output": output})
    sessions = load_sessions(estore, tmp_path)
    rec = gen("attributes", estore.settings, llm_settings)
    assert rec.stages[0].items == 8 and rec.stages[0].written == 8  # the products the two sessions viewed
    assert estore.run("MATCH (p:Product) WHERE p.attributes_prompt IS NOT NULL RETURN count(p) AS n")[0]["n"] == 8

    rec = gen("trees", estore.settings, llm_settings)
    assert (rec.stages[0].items, rec.stages[0].written, rec.stages[0].rejected) == (2, 2, 0)
    assert steps_of(estore, sessions[5]) == TREE_5
    assert steps_of(estore, sessions[3]) == [1, 5, 25]
    assert llm_server.completions == 8 + CALLS_5 + CALLS_3
    # the test double recognised each request's template and answered in its declared format
    assert (llm_server.counts["format:attributes"], llm_server.counts["format:intentions"]) == (8, CALLS_5 + CALLS_3)
    assert llm_server.counts["format:free_text"] == 0
    # every node: AT the product of its step, a valued attribute, a rationale; a comparison from step 2 on
    rows = estore.run(
        """MATCH (s:Session {id: $s})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(n:Intention)-[:AT]->(p:Product)
                         MATCH (s)-[v:VIEWED]->(p) WHERE v.pos = n.step
                         MATCH (n)-[:VALUES]->(:Attribute)
                         RETURN n.step AS step, n.rationale AS r, n.comparison AS c""",
        {"s": sessions[5]},
    )
    assert len(rows) == sum(TREE_5) and all(r["r"] for r in rows)
    assert all(r["c"] for r in rows if r["step"] > 1) and not any(r["c"] for r in rows if r["step"] == 1)
    done = estore.run("MATCH (s:Session) RETURN s.tree_nodes AS n, s.tree_schedule AS k ORDER BY n")
    assert [d["n"] for d in done] == [31, 281] and done[0]["k"] == "roots=1,width=5,branch_until=4"

    # a second run finds nothing to do; a fresh graph with the same cache issues zero calls
    before = dump(estore)
    rec = gen("trees", estore.settings, llm_settings)
    assert rec.stages[0].items == 0 and llm_server.completions == 8 + CALLS_5 + CALLS_3
    other = estore.settings.model_copy(update={"graph_name": f"t{uuid.uuid4().hex[:12]}"})
    with open_store(other) as st2:
        load_sessions(st2, tmp_path)
        gen("attributes", other, llm_settings)
        rec = gen("trees", other, llm_settings)
        assert rec.total.calls == 0 and rec.total.cache_hits == CALLS_5 + CALLS_3
        assert dump(st2) == before
        st2.db.connection.delete(other.graph_name)


def test_dry_run_counts_every_call_and_writes_nothing(estore, tmp_path, llm_server, llm_settings):
    load_sessions(estore, tmp_path)
    rec = gen("trees", estore.settings, llm_settings, dry_run=True)
    assert rec.total.calls == CALLS_5 + CALLS_3 and llm_server.counts["requests"] == 0
    assert rec.total.prompt_tokens > 100 * rec.total.calls and rec.usage.cost_usd > 0
    assert estore.run("MATCH (i:Intention) RETURN count(i) AS n")[0]["n"] == 0
    r = CliRunner().invoke(
        cli,
        ["--data-dir", str(estore.settings.data_dir), "generate", "trees", "--dry-run"],
        env={"INTENTKB_GRAPH": estore.settings.graph_name, "OPENAI_API_KEY": ""},
    )
    assert r.exit_code == 0, r.output
    assert f"dry run, estimated: {CALLS_5 + CALLS_3} calls" in r.output


def _run_cli(args: list[str], settings: Settings, llm_server, cache: Path, **extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "INTENTKB_HOME": str(settings.data_dir),
        "INTENTKB_GRAPH": settings.graph_name,
        "OPENAI_BASE_URL": llm_server.url,
        "OPENAI_API_KEY": TEST_API_KEY,
        "INTENTKB_LLM_CACHE": str(cache),
        "INTENTKB_LLM_CONCURRENCY": "4",
        **extra,
    }
    return subprocess.Popen([sys.executable, "-m", "intentkb.cli.main", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_run_resumes_to_the_graph_of_an_uninterrupted_run(estore, tmp_path, llm_server, llm_settings):
    """SIGKILL at a random point of `generate trees`, run again: exactly the uninterrupted graph."""
    load_sessions(estore, tmp_path)
    gen("attributes", estore.settings, llm_settings)
    other = estore.settings.model_copy(update={"graph_name": f"t{uuid.uuid4().hex[:12]}"})
    with open_store(other) as ref:
        load_sessions(ref, tmp_path)
        gen("attributes", other, llm_settings)
        gen("trees", other, llm_settings.model_copy(update={"cache_path": tmp_path / "ref-cache.sqlite"}))
        expected = dump(ref)
        ref.db.connection.delete(other.graph_name)

    rng = random.Random(os.getpid())
    cache = tmp_path / "killed-cache.sqlite"
    llm_server.model_latency = 0.01
    kills = 0
    for _ in range(3):  # up to three kills at random points, then a run to the end
        start = llm_server.completions
        at = start + rng.randrange(5, 120)
        proc = _run_cli(["generate", "trees"], estore.settings, llm_server, cache)
        while proc.poll() is None and llm_server.completions < at:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 1
    proc = _run_cli(["generate", "trees"], estore.settings, llm_server, cache)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "rejected 0" in out
    assert dump(estore) == expected


def test_faults_end_in_the_graph_or_the_rejects_file(estore, tmp_path, llm_server, llm_settings):
    """30 % of requests fail (429, 500, timeouts, bad JSON, unusable or cut-off replies)."""
    sessions = load_sessions(estore, tmp_path)
    llm_server.faults = 0.3
    llm_server.slow_seconds = 0.6  # past the 0.4 s deadline
    llm = llm_settings.model_copy(update={"max_retries": 2, "concurrency": 16, "timeout": 0.4})
    gen("attributes", estore.settings, llm)
    rec = gen("trees", estore.settings, llm)
    st = rec.stages[0]
    assert st.items == st.written + st.rejected == 2
    rejects = [json.loads(x) for x in Path(st.rejects_file).read_text().splitlines()] if st.rejects_file else []
    assert len(rejects) == st.rejected and all(r["reason"] and r["item"]["session"] for r in rejects)
    assert rec.total.retries > 0 and llm_server.counts["429"] and llm_server.counts["slow"]
    # a finished tree is whole; an unfinished one is not marked and the next run completes it
    for _n, sid in sessions.items():
        marked = estore.run("MATCH (s:Session {id: $s}) RETURN s.tree_nodes AS n", {"s": sid})[0]["n"]
        assert marked is None or sum(steps_of(estore, sid)) == marked
    llm_server.faults = 0.0
    rec = gen("trees", estore.settings, llm)
    assert rec.stages[0].rejected == 0
    assert steps_of(estore, sessions[5]) == TREE_5


def test_batch_api_mode_builds_the_same_tree(estore, tmp_path, llm_server, llm_settings):
    sessions = load_sessions(estore, tmp_path)
    llm = llm_settings.model_copy(update={"batch_poll": 0.01})
    gen("attributes", estore.settings, llm, batch=True)
    rec = gen("trees", estore.settings, llm, batch=True)
    assert llm_server.counts["batches"] == 1 + 5  # attributes; one round per tree level
    assert llm_server.completions == 0  # no live calls at all
    assert rec.stages[0].written == 2 and steps_of(estore, sessions[5]) == TREE_5
    assert rec.usage.batch_prompt_tokens > 0
    assert not list((estore.settings.data_dir / "batches").glob("*.json"))  # no batch left in flight

    other = estore.settings.model_copy(update={"graph_name": f"t{uuid.uuid4().hex[:12]}"})
    with open_store(other) as live:
        load_sessions(live, tmp_path)
        lv = llm_settings.model_copy(update={"cache_path": tmp_path / "live.sqlite"})
        gen("attributes", other, lv)
        gen("trees", other, lv)
        assert dump(live) == dump(estore)
        live.db.connection.delete(other.graph_name)


@pytest.mark.parametrize("output", ["json", "lines"])
def test_mind_pipeline_and_preserve_rates(estore, tmp_path, llm_server, llm_settings, output):
    llm_settings = llm_settings.model_copy(update={"output": output})
    ingest_file(estore, "cobuy", FIXTURES / "mind_sample.csv", rejects_path=tmp_path / "c.rejects.jsonl")
    pairs = estore.run("MATCH (:Product)-[r:CO_BOUGHT]->(:Product) RETURN count(r) AS n")[0]["n"]
    estore.run("MATCH (p:Product) WITH p ORDER BY p.id LIMIT 2 SET p.features = null", write=True)
    before = estore.run("MATCH (i:Intention) RETURN count(i) AS n")[0]["n"]
    done = estore.run("""MATCH (a)<-[:EXPLAINS {role:'a'}]-(i:Intention)-[:EXPLAINS {role:'b'}]->(b)
                         WHERE i.relation IN ['usedFor', 'isA'] RETURN count(DISTINCT [a.id, b.id, i.relation]) AS n""")[0]["n"]
    rec = gen("mind", estore.settings, llm_settings, relations=["usedFor", "isA"])
    feats, intents, filt = rec.stages
    assert feats.written == 2
    assert intents.written == intents.items == 2 * pairs - done
    after = estore.run("MATCH (i:Intention) RETURN count(i) AS n")[0]["n"]
    assert after == before + intents.written
    assert filt.written == intents.written  # the ingested intentions carry their verdicts already
    judged = estore.run("MATCH (i:Intention) WHERE i.relation IN ['usedFor', 'isA'] AND i.accepted IS NULL RETURN count(i) AS n")
    assert judged[0]["n"] == 0
    r = CliRunner().invoke(cli, ["--data-dir", str(estore.settings.data_dir), "stats", "--format", "json"], env={"INTENTKB_GRAPH": estore.settings.graph_name})
    rates = {x["relation"]: x for x in json.loads(r.output)["relations"]}
    assert rates["usedFor"]["unfiltered"] == 0 and rates["usedFor"]["intentions"] >= pairs
    # resumable: nothing left to do
    rec = gen("mind", estore.settings, llm_settings, relations=["usedFor", "isA"])
    assert [s.items for s in rec.stages] == [0, 0, 0]


@pytest.mark.parametrize("output", ["json", "lines"])
def test_scripts_and_purchase_intentions(estore, tmp_path, llm_server, llm_settings, output):
    llm_settings = llm_settings.model_copy(update={"output": output})
    ingest_file(estore, "products", FIXTURES / "catalog_sample.csv", rejects_path=tmp_path / "p.rejects.jsonl")
    rec = gen("scripts", estore.settings, llm_settings, limit=3, per_source=2, intentions_per_product=3)
    scripts, purchase = rec.stages
    assert (scripts.items, scripts.written, purchase.items, purchase.written) == (3, 3, 3, 3)
    assert estore.run("MATCH (c:Script) RETURN count(c) AS n")[0]["n"] == 6
    steps = estore.run("MATCH (c:Script)-[:HAS_STEP]->(s:Step) RETURN c.id AS c, count(s) AS n")
    nexts = estore.run("MATCH (:Step)-[r:NEXT]->(:Step) RETURN count(r) AS n")[0]["n"]
    assert all(r["n"] >= 4 for r in steps) and nexts == sum(r["n"] - 1 for r in steps)
    assert estore.run("MATCH (i:Intention {kind: 'purchase'})-[:EXPLAINS]->(:Product) RETURN count(i) AS n")[0]["n"] == 9
    calls = llm_server.completions
    assert calls == 3 * (1 + 2) + 3
    rec = gen("scripts", estore.settings, llm_settings, limit=3, per_source=2, intentions_per_product=3)
    assert llm_server.completions == calls + 3 * 3 + 3  # the next three products: nothing is done twice
    cats = gen("scripts", estore.settings, llm_settings, source="categories", per_source=1, intentions_per_product=0)
    assert cats.stages[0].written == cats.stages[0].items > 0
    calls = llm_server.completions  # a category with its scripts is done: a re-run asks nothing
    again = gen("scripts", estore.settings, llm_settings, source="categories", per_source=1, intentions_per_product=0)
    assert again.stages[0].items == 0 and llm_server.completions == calls


def test_api_key_lands_nowhere(estore, tmp_path, llm_server, llm_settings):
    """Not in the cache, the graph, the run records, the rejects, the logs or an export."""
    sessions = load_sessions(estore, tmp_path)
    llm_server.faults = 0.3
    llm_server.slow_seconds = 0.6
    cache = tmp_path / "cache.sqlite"
    proc = _run_cli(["generate", "attributes"], estore.settings, llm_server, cache, INTENTKB_LLM_RETRIES="1")
    out1, err1 = proc.communicate(timeout=120)
    proc = _run_cli(["generate", "trees", "--session", sessions[3]], estore.settings, llm_server, cache, INTENTKB_LLM_RETRIES="1")
    out2, err2 = proc.communicate(timeout=120)
    assert proc.returncode == 0, err2
    assert llm_server.auth_headers == {f"Bearer {TEST_API_KEY}"}
    export = (
        CliRunner()
        .invoke(cli, ["--data-dir", str(estore.settings.data_dir), "trajectories", "--details"], env={"INTENTKB_GRAPH": estore.settings.graph_name})
        .output
    )
    texts = [out1, err1, out2, err2, export, json.dumps(dump(estore))]
    files = [p for p in [*estore.settings.data_dir.rglob("*"), *tmp_path.rglob("*")] if p.is_file() and not p.is_socket()]
    assert cache in files and any(p.parent.name == "runs" for p in files)
    for p in files:
        assert TEST_API_KEY.encode() not in _bytes(p), p
    for t in texts:
        assert TEST_API_KEY not in t


def test_missing_key_is_one_line_and_exit_1(estore, tmp_path, llm_server):
    load_sessions(estore, tmp_path)
    env = {
        **os.environ,
        "INTENTKB_HOME": str(estore.settings.data_dir),
        "INTENTKB_GRAPH": estore.settings.graph_name,
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
    }
    r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "generate", "attributes"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Error: OPENAI_API_KEY is not set" in r.stderr
    assert "Traceback" not in r.stderr and "never retrieved" not in r.stderr


@pytest.mark.parametrize("credentials", ["key", "url"])
def test_an_endpoint_that_echoes_the_credentials_puts_them_nowhere(estore, tmp_path, llm_server, llm_settings, credentials):
    """Issue 26, finding 5: a server that echoes the Authorization header in a normal 200 reply put
    the key (and the base64 of the URL's user:password) into intention texts, the cache and the
    store's files; the rejects file already redacted the same text."""
    import base64

    ingest_file(estore, "cobuy", FIXTURES / "mind_sample.csv", rejects_path=tmp_path / "c.rejects.jsonl")
    user, password = "alice-kb", "s3cr3t-pw-9d2e"
    url = llm_server.url.replace("http://", f"http://{user}:{password}@") if credentials == "url" else llm_server.url
    llm = llm_settings.model_copy(update={"base_url": url, "cache_path": tmp_path / "echo-cache.sqlite"})
    llm_server.echo_auth = True
    gen("mind", estore.settings, llm, limit=2)
    texts = [r["t"] for r in estore.run("MATCH (i:Intention) WHERE i.text CONTAINS '[' RETURN i.text AS t")]
    assert texts and all("[redacted]" in t for t in texts), texts[:3]  # the echo arrived, scrubbed
    secrets = [TEST_API_KEY, base64.b64encode(TEST_API_KEY.encode()).decode()]
    if credentials == "url":
        secrets += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    assert any(h.split()[-1] in "".join(secrets) or TEST_API_KEY in h for h in llm_server.auth_headers)
    estore.checkpoint()
    files = [p for p in [*estore.settings.data_dir.rglob("*"), *tmp_path.rglob("*")] if p.is_file() and not p.is_socket()]
    assert tmp_path / "echo-cache.sqlite" in files and any(p.suffix in (".aof", ".rdb") for p in files)
    for p in files:
        data = _bytes(p)
        for secret in secrets:
            assert secret.encode() not in data, (p, secret)
    for secret in secrets:
        assert secret not in json.dumps(dump(estore))
