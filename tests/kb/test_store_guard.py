"""Nothing takes the store down (issue 26, findings 1-3 and 7): the guard measures a query's
expression depth and cost on its tokens, bounds eager allocations it can see, and the embedded
server's supervisor restarts the server when a query outlives its deadline or the server dies,
while admission control keeps a thread free for short queries. Each test failed on the store
before the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from intentkb import cypher
from intentkb.config import Settings
from intentkb.errors import StoreError
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.guard import QueryLimits, QueryRefused, check_query_text, measure
from intentkb.kb.guard_shapes import SHAPES, largest_accepted

from ..ingest.test_crash import env_for

LONG = "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*) AS n"


def test_the_projects_own_queries_pass_the_guard():
    """No query intentkb runs is refused (they do not go through it, but users copy them)."""
    for name in cypher.names():
        check_query_text(cypher.load(name))


@pytest.mark.parametrize("text", ["RETURN " + "NOT " * 18 + "true", "RETURN " + "- " * 22 + "1", "RETURN " + "NOT " * 40 + "true AS x"])
def test_operator_chains_are_refused_before_the_engine(store, text):
    """Finding 1: bracket-free chains parsed in exponential time (NOT x21: 7.7 s) and passed."""
    t0 = time.monotonic()
    with pytest.raises(QueryRefused, match="nested"):
        store.run(text)
    assert time.monotonic() - t0 < 1
    assert store.run("RETURN 1 AS ok") == [{"ok": 1}]


def test_the_largest_query_of_each_shape_the_guard_accepts_parses_in_time(estore):
    """The guard's bounds against the engine itself: for every shape that stalls the parser, the
    largest query that passes runs in well under a second (the next size up is refused)."""
    limits = QueryLimits.of(estore.settings)
    slow = {}
    for label, shape in SHAPES.items():
        n = largest_accepted(shape, limits)
        assert n >= 1, label
        with pytest.raises(QueryRefused):
            check_query_text(shape(n + 1), limits)
        t0 = time.monotonic()
        try:
            estore.run(shape(n), timeout=20)
        except QueryRefused:
            raise
        except StoreError as e:
            assert "restarted" not in str(e)  # an engine error (a type error) still means it parsed
        slow[label] = time.monotonic() - t0
    assert max(slow.values()) < 3, slow  # measured at most 0.15 s; a stalled parse takes minutes


def test_integers_past_64_bits_are_refused_not_clamped(store):
    """Finding 7: -p x=10^30 came back as 9223372036854775807."""
    for text, params in (("RETURN $x AS x", {"x": 10**30}), ("RETURN 1000000000000000000000000000000 AS x", {})):
        with pytest.raises(QueryRefused, match="64 bits"):
            store.run(text, params)
    assert store.run("RETURN -9223372036854775808 AS x, $y AS y", {"y": 2**63 - 1}) == [{"x": -(2**63), "y": 2**63 - 1}]


@pytest.mark.parametrize(
    "text, params",
    [
        ("UNWIND range(1, 3000000000) AS x RETURN count(x)", {}),
        ("WITH 3000000000 AS n RETURN size(range(1, n))", {}),
        ("RETURN size(range(1, $n))", {"n": 3_000_000_000}),
        ("RETURN size(range(-5000000000, 0, 1))", {}),
        ("UNWIND range(1, 3000000*1000) AS x RETURN count(x)", {}),  # the audit of the first fix: 19 GB
        ("RETURN size(range(1, toInteger('3000000000')))", {}),
        ("WITH 1 AS a, 3000000 * 1000 AS n RETURN size(range(a, n))", {}),
        ("RETURN size(range(0, $n * 2))", {"n": 3_000_000_000}),
    ],
)
def test_ranges_whose_size_is_known_are_bounded(store, text, params):
    """Finding 2: the engine allocates a range whole; 3e9 elements aborted the server."""
    with pytest.raises(QueryRefused, match="range"):
        store.run(text, params)
    assert store.run("RETURN size(range(1, 1000)) AS n") == [{"n": 1000}]


def test_parameters_are_bounded_like_the_query(store):
    """Finding 6: a 50 MB list parameter was accepted (the 100,000-character limit covered the text)."""
    with pytest.raises(QueryRefused, match="parameters refused"):
        store.run("RETURN size($x) AS n", {"x": ["x" * 100] * 20_000})
    assert store.run("RETURN size($x) AS n", {"x": ["x" * 100] * 1000}) == [{"n": 1000}]


def test_not_reaches_through_comparisons(store):
    """The audit of the first fix: NOT's depth was dropped at `=`, while the engine parses
    `NOT x12 true = ((((((true))))))` as deep as both together (k=10: 7.4 s)."""
    assert measure("RETURN " + "NOT " * 12 + "true = " + "(" * 6 + "true" + ")" * 6).depth == 18
    assert measure("RETURN " + "-" * 12 + "1 + " + "(" * 6 + "1" + ")" * 6).depth == 12  # a sign's operand ends there
    with pytest.raises(QueryRefused):
        store.run("RETURN " + "NOT " * 12 + "true = " + "(" * 6 + "true" + ")" * 6 + " AS x")
    with pytest.raises(QueryRefused, match="cost"):
        store.run("RETURN " + "NOT " * 12 + "true" + " = true" * 1000 + " AS x")


@pytest.mark.parametrize(
    "text",
    [
        "WITH {end: 1} AS m RETURN " + "CASE m.end WHEN 1 THEN " * 14 + "1" + " END" * 14 + " AS x",
        "WITH {end: true} AS m RETURN " + "NOT " * 8 + "m.end = " + "(" * 8 + "true" + ")" * 8 + " AS x",
        "WITH {where: true} AS m RETURN " + "NOT " * 8 + "m.where = " + "(" * 8 + "true" + ")" * 8 + " AS x",
        "MATCH (n:End) RETURN " + "NOT " * 8 + "n.x = " + "(" * 8 + "true" + ")" * 8 + " AS x",
    ],
)
def test_keywords_used_as_names_do_not_end_a_depth(text):
    """The audit of the second fix: a property named `end` closed every CASE and NOT before it in
    the guard's count (depth 1 for 18 nested CASEs, 1.7 s to parse, 26 never finish)."""
    with pytest.raises(QueryRefused, match="nested"):
        check_query_text(text)


def test_the_guard_measures_tokens_not_characters():
    assert measure("RETURN 'NOT NOT NOT ((((((((' AS s // NOT NOT (((((").depth == 0
    assert measure("RETURN `NOT NOT`, x IS NOT NULL AND NOT y").depth == 1
    assert measure("RETURN a - -b - -c").depth == 1
    assert measure("MATCH (a)-[:R]->(b)<-[:S]-(c) RETURN a").hops == 2


# -- the supervisor -------------------------------------------------------------------------------


def _limits_off(data_dir: Path, **extra: str) -> dict[str, str]:
    """Guard limits raised past the shapes that stall the parser: what a query the guard does not
    know would do."""
    return {**env_for(data_dir), "INTENTKB_QUERY_MAX_NESTING": "24", "INTENTKB_QUERY_MAX_COST": str(1 << 40), "INTENTKB_QUERY_GRACE": "1", **extra}


def _settings(data_dir: Path, **kw: object) -> Settings:
    return Settings(**{"data_dir": data_dir, "graph_uri": "embedded", "query_max_nesting": 24, "query_max_cost": 1 << 40, "query_grace": 1, **kw})


def test_a_query_that_outlives_its_deadline_is_stopped_and_nothing_is_lost(data_dir):
    """Parsing is not covered by the engine's timeout: the supervisor restarts the server at the
    deadline plus the grace, the caller hears which limit, acknowledged writes survive."""
    settings = _settings(data_dir)
    with open_store(settings) as st:
        st.run("CREATE (:Product {id: 'kept', asin: 'kept'})", write=True)
        pid = st.server._pid()
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"past its 1 s limit and 1 s of grace") as err:
            st.run("RETURN " + "NOT " * 24 + "true AS x", timeout=1)
        took = time.monotonic() - t0
        assert took < 10, took
        assert "restarted" in str(err.value) and "nothing the server acknowledged is lost" in str(err.value)
        assert st.server._pid() not in (None, pid)
        assert st.run("MATCH (p:Product {id: 'kept'}) RETURN count(p) AS n") == [{"n": 1}]
        assert st.server.restarts()["last"]["slot"].startswith(("long", "quick"))
        assert "query" not in st.server.restarts()["last"]  # /health shows it: no one's query text
        # sent again in a loop, it would restart the server every few seconds: refused for a while,
        # also with a comment, other spacing or another alias (the second audit added a space)
        for again in ("RETURN " + "NOT " * 24 + "true AS x", "RETURN  " + "NOT " * 24 + "true AS y /* 2 */ "):
            with pytest.raises(QueryRefused, match="had the embedded server restarted"):
                st.run(again, timeout=1)
        assert st.server._pid() not in (None, pid)


def test_bombs_whose_clients_are_gone_do_not_stall_the_server(data_dir):
    """Finding 1's reproduction: four stalling queries from four CLI processes, killed after 2 s;
    every later query timed out, RETURN 1 included, until `intentkb server stop`."""
    env = _limits_off(data_dir, INTENTKB_QUERY_TIMEOUT="2")
    cmd = [sys.executable, "-m", "intentkb.cli.main", "cypher"]
    subprocess.run([*cmd, "RETURN 1 AS n"], env=env, check=True, capture_output=True, timeout=120)
    srv = EmbeddedServer(data_dir)
    pid = srv._pid()
    bombs = [subprocess.Popen([*cmd, "RETURN " + "NOT " * 24 + "true AS x"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(4)]
    time.sleep(2)
    for b in bombs:
        b.kill()
        b.wait()
    t0 = time.monotonic()
    ok = subprocess.run([*cmd, "RETURN 1 AS n", "--format", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout) == [{"n": 1}], ok.stderr
    assert time.monotonic() - t0 < 15
    deadline = time.monotonic() + 15
    while srv._pid() in (None, pid) and time.monotonic() < deadline:  # the orphans were stopped too
        time.sleep(0.1)
    assert srv._pid() not in (None, pid)


def test_a_query_that_kills_the_server_gets_a_clear_error_and_a_restarted_server(data_dir, monkeypatch):
    """Finding 2: an allocation the guard cannot see (nested ranges, sized by the data) makes
    FalkorDB abort; the caller said "embedded server unreachable" and the server stayed down."""
    from intentkb.kb.falkordb import StoreRestarted

    monkeypatch.setenv("INTENTKB_SERVER_MEMORY", "1")  # the abort comes sooner under a small cap
    with open_store(_settings(data_dir, query_max_nesting=12)) as st:
        st.run("CREATE (:Product {id: 'kept', asin: 'kept'})", write=True)
        pid = st.server._pid()
        with pytest.raises(StoreRestarted) as err:
            st.run("UNWIND [100000] AS n RETURN size([x IN range(1, n) | range(1, n)]) AS x", timeout=60)
        assert "unreachable" not in str(err.value)
        assert "restarted" in str(err.value) and "Out Of Memory" in str(err.value)
        assert st.server._pid() not in (None, pid)
        assert st.run("MATCH (p:Product {id: 'kept'}) RETURN count(p) AS n") == [{"n": 1}]


def test_a_short_query_is_answered_while_four_long_ones_run(data_dir):
    """Finding 3: four long queries at once delayed `RETURN 1` by ~27 s. A server of its own: on a
    loaded machine the engine may miss a deadline by more than the grace, and the supervisor then
    restarts it and sets the shape aside, which must not reach the other tests' server."""
    from intentkb.kb.falkordb import StoreRestarted

    embedded_settings = Settings(data_dir=data_dir, graph_uri="embedded")
    errors: list[str] = []

    def run_long() -> None:
        with open_store(embedded_settings) as st:
            try:
                st.run(LONG, timeout=8)
            except StoreRestarted:
                errors.append("stopped by a restart")  # the supervisor's way, past the deadline and the grace
            except StoreError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=run_long) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    took = []
    with open_store(embedded_settings) as st:
        for _ in range(3):
            t0 = time.monotonic()
            try:
                assert st.run("RETURN 1 AS one") == [{"one": 1}]
                took.append(time.monotonic() - t0)
            except StoreRestarted:  # a loaded machine: the supervisor ended a long query past its grace, and this one with it
                assert st.run("RETURN 1 AS one") == [{"one": 1}]  # asked again, as the error says; not a queueing time
            time.sleep(0.2)
    for t in threads:
        t.join(timeout=120)
    assert took and max(took) < 2.5, took  # at most the quick lane's second, when a long query holds it
    assert len(errors) == 4 and all("timed out" in e or "not started" in e or e == "stopped by a restart" for e in errors), errors


def test_results_past_their_caps_are_refused_whole(store):
    from intentkb.kb.guard import ResultCaps, ResultTooLarge

    with pytest.raises(ResultTooLarge, match="rows"):
        store.run("UNWIND range(1, 200) AS x RETURN x", caps=ResultCaps(max_rows=100, max_bytes=1 << 20))
    with pytest.raises(ResultTooLarge, match="bytes"):
        store.run("UNWIND range(1, 2000) AS x RETURN x, 'padding padding padding' AS p", caps=ResultCaps(max_rows=10_000, max_bytes=10_000))
    assert len(store.run("UNWIND range(1, 100) AS x RETURN x", caps=ResultCaps(max_rows=100, max_bytes=1 << 20))) == 100


def test_a_query_of_many_wide_rows_stops_with_an_error_and_the_server_stays_up(estore):
    """The MCP audit: 10M rows of two 80-character strings and a list, within every guard limit,
    held its records and its reply at once and took the 4 GiB server down (the per-query memory
    capacity was 4 GiB too). It now stops at the capacity, and the server answers the next query."""
    from intentkb.errors import StoreError

    pid = estore.server.status().pid
    wide = "UNWIND range(1, 10000000) AS r RETURN r, $s AS s, $s + 'y' AS t, [r, r, r, r] AS l"
    with pytest.raises(StoreError, match="more memory than the server allows a query"):
        estore.run(wide, {"s": "x" * 80}, timeout=120)
    assert estore.run("RETURN 1 AS one") == [{"one": 1}]
    assert estore.server.status().pid == pid  # not restarted


def test_the_servers_memory_is_capped_and_follows_its_data(estore):
    """The audit of the first fix: `UNWIND range(1, 3000000*1000)` (before the guard folded
    constants) grew the server to 19 GB of a 23 GB machine in 33 s."""
    from intentkb.kb.falkordb.settings import memory_cap

    pid = estore.server._pid()
    limits = Path(f"/proc/{pid}/limits").read_text()
    cap = int(next(x for x in limits.splitlines() if x.startswith("Max data size")).split()[3])
    held = estore.server.data_bytes()
    assert held and 4 << 30 <= cap <= max(memory_cap(held), memory_cap(2 * held)), (cap, held)


def test_queries_that_keep_bringing_the_server_down_trip_the_breaker(data_dir, monkeypatch):
    """The audits of the second and third fixes: a query that made the server abort could be sent
    again and again, each variant a new shape (one client caused 146 restarts a minute). After three
    restarts brought about by outside queries within a minute, outside queries pause; intentkb's
    own queries go on, and nothing acknowledged is lost."""
    from intentkb.kb.falkordb import OutsidePaused

    monkeypatch.setenv("INTENTKB_SERVER_MEMORY", "1")
    with open_store(_settings(data_dir, query_max_nesting=12, query_max_cost=1 << 17)) as st:
        st.run("CREATE (:Product {id: 'kept', asin: 'kept'})", write=True)
        for i in range(3):
            with pytest.raises(StoreError, match=r"went down|restarted"):
                st.run(f"RETURN size([x IN range(1, 100000) | range(1, 100000 + {i})]) AS n", timeout=60)
        with pytest.raises(OutsidePaused, match="paused"):
            st.run("RETURN 1 AS one")
        counts = {r["label"]: r["count"] for r in st.run("count_labels")}  # the project's own queries are not paused
        assert counts.get("Product") == 1


def test_a_range_sized_by_the_data_is_stopped_before_it_allocates(estore):
    """The audit of the third fix: `range(1, c*10000000)` with `c` from the data passed the constant
    folding and made the server abort; now its step fails past the limit, in the engine, at once."""
    pid = estore.server._pid()
    estore.run("CREATE (:Product {id: 'a', asin: 'a'})", write=True)
    for bomb in (
        "MATCH (n) WITH count(n) AS c RETURN size(range(1, c * 30000000)) AS n",
        # the audit of this fix: the size test's `b - a` overflowed 64 bits and passed
        "MATCH (n) WITH count(n) AS c RETURN size(range(-5000000000000000000 + c, 5000000000000000000)) AS n",
        "MATCH (n) WITH count(n) AS c RETURN size(range(5000000000000000000, -5000000000000000000 + c, -1)) AS n",
        # ... and a bound drawn again after the test passed: 40 draws, each past the limit half the time
        "UNWIND range(1, 40) AS i RETURN size(range(1, CASE WHEN rand() < 0.5 THEN 1 ELSE 3000000000 END)) AS n",
    ):
        with pytest.raises(QueryRefused, match="range"):
            estore.run(bomb)
    assert estore.server._pid() == pid
    rows = estore.run("UNWIND range(1, 40) AS i RETURN size(range(1, CASE WHEN rand() < 0.5 THEN 1 ELSE 3 END, 1)) AS n")
    assert {r["n"] for r in rows} <= {1, 3} and len(rows) == 40
    assert estore.run("WITH [1, 2, 3] AS l RETURN range(0, size(l) - 1) AS r, range(size(l), 1, -1) AS d") == [{"r": [0, 1, 2], "d": [3, 2, 1]}]


def test_the_supervisor_goes_with_its_server(data_dir):
    from intentkb.kb.falkordb.supervision import read_state, supervisor_running

    srv = EmbeddedServer(data_dir)
    srv.start()
    assert supervisor_running(srv.dir)
    spid = read_state(srv.dir)["pid"]
    srv.stop()
    assert not supervisor_running(srv.dir) and not EmbeddedServer._alive(spid)


def test_queries_from_outside_may_not_reach_past_the_graph(store, tmp_path):
    """Neo4j's read-only transactions allow LOAD CSV (it read a serve token off the disk through
    `/cypher`) and its dbms procedures; a query from outside is refused before it is sent."""
    from intentkb.errors import QueryRefused

    secret = tmp_path / "secret.csv"
    secret.write_text("s3cret\n")
    for q in [
        f"LOAD CSV FROM 'file://{secret}' AS row RETURN row",
        "load csv from $u as row return row",
        "CALL dbms.listConfig() YIELD name RETURN name",
        "CALL `dbms`.components()",
        "CALL apoc.load.json('file:///etc/passwd')",
    ]:
        with pytest.raises(QueryRefused, match="outside the graph"):
            store.run(q, {"u": f"file://{secret}"})
    assert store.run("RETURN 'LOAD CSV' AS s") == [{"s": "LOAD CSV"}]  # the words in a string are not the clause
