"""Figures of the store guard and the supervised embedded store (issue 26), and of the readers.

    python bench/hostile.py                         # embedded store; medians of 5 runs
    python bench/hostile.py --neo4j bolt://127.0.0.1:7687   # the query bombs against Neo4j too
    python bench/hostile.py --only guard,findings   # some sections

Sections:
- guard: what the guard costs on every named query of the project (none refused; median added
  latency), beside the bracket scan it replaces;
- shapes: for each shape that stalls FalkorDB's parser, the largest query the guard accepts and
  how long the server takes to parse it, and how fast the next size up is refused;
- supervisor: how long a stuck query holds the server (its deadline + grace, then a restart) and
  how long a killed server takes to come back by itself;
- admission: `RETURN 1` alone, beside four and beside six long queries;
- findings: each finding of the issue, its command, what it gives now, the server process (same
  pid, or restarted by itself and how long that took) and whether the data is intact;
- readers: records/s of every reader (read + validate, no store), clean and damaged.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from intentkb import cypher
from intentkb.config import Settings
from intentkb.errors import IntentKBError, StoreError
from intentkb.ingest.run import FORMATS
from intentkb.io.sources import BadLine
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.guard import QueryLimits, QueryRefused, check_query_text
from intentkb.kb.guard_shapes import SHAPES, largest_accepted
from intentkb.kb.store import GraphStore

LONG = "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*) AS n"


FAILED: list[str] = []  # the checks this run missed: printed as they fail, and the exit status at the end


def check(ok: bool, what: str) -> None:
    if not ok:
        FAILED.append(what)
        print(f"CHECK FAILED: {what}")


def med(samples: list[float], unit: float = 1000, fmt: str = "{:.1f}") -> str:
    return (fmt + " (min " + fmt + ", max " + fmt + ")").format(statistics.median(samples) * unit, min(samples) * unit, max(samples) * unit)


def old_bracket_scan(text: str) -> int:
    """The guard before issue 26: deepest (), [], {} outside strings and comments, on characters."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c in "'\"`":
            i += 1
            while i < n and text[i] != c:
                i += 2 if text[i] == "\\" and c != "`" else 1
        elif c == "/" and text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        i += 1
    return deepest


# -- sections ------------------------------------------------------------------------------------


def guard_cost(runs: int) -> None:
    names = cypher.names()
    new, old, refused = [], [], []
    for name in names:
        text = cypher.load(name)
        try:
            check_query_text(text)
        except QueryRefused as e:
            refused.append(f"{name}: {e}")
        for fn, out in ((check_query_text, new), (old_bracket_scan, old)):
            samples = []
            for _ in range(runs * 20):
                t = time.perf_counter()
                fn(text)
                samples.append(time.perf_counter() - t)
            out.append(statistics.median(samples))
    print(f"\n## guard on the project's {len(names)} named queries")
    print(f"refused: {len(refused)} {refused[:3]}")
    check(not refused, f"the guard refuses {len(refused)} of the project's own queries")
    check(statistics.median(new) <= 1e-3, "the guard costs more than 1 ms per query (median)")
    print(
        f"per query, median over queries: {statistics.median(new) * 1e3:.3f} ms (max {max(new) * 1e3:.3f} ms); the bracket scan it replaces: {statistics.median(old) * 1e3:.3f} ms (max {max(old) * 1e3:.3f} ms)"
    )


def shapes(settings: Settings, runs: int) -> None:
    limits = QueryLimits.of(settings)
    print("\n## the largest query of each stalling shape the guard accepts (server parse, uncached, median of runs)")
    print("| shape | largest n accepted | characters | server time | refuse n+1 |")
    print("|---|---|---|---|---|")
    with open_store(settings) as st:
        for label, shape in SHAPES.items():
            n = largest_accepted(shape, limits)
            text = shape(n)
            server = []
            for k in range(runs):
                t = time.perf_counter()
                try:
                    fresh = text[:-1] + f"x{k}" if text.endswith(" AS x") and len(text) < 99_990 else text
                    st.run(fresh, timeout=30)  # a new text each run: no plan cache
                except QueryRefused:
                    raise
                except StoreError:
                    pass  # a type error is still a parsed query
                server.append(time.perf_counter() - t)
            refuse, refused = [], 0
            for _ in range(runs):
                t = time.perf_counter()
                try:
                    check_query_text(shape(n + 1), limits)
                except QueryRefused:
                    refused += 1
                refuse.append(time.perf_counter() - t)
            check(refused == runs, f"{label}: n+1 = {n + 1} is not refused")
            check(statistics.median(server) < 1.0, f"{label}: the largest accepted query takes the server {statistics.median(server):.2f} s")
            print(f"| {label} | {n:,} | {len(text):,} | {med(server)} ms | {med(refuse, fmt='{:.2f}')} ms |")


def _wait_restart(srv: EmbeddedServer, old_pid: int | None, timeout: float = 60) -> float:
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if srv.ping() == "ok" and srv._pid() not in (None, old_pid):
            return time.monotonic() - t
        time.sleep(0.01)
    raise AssertionError("the server did not come back")


def supervisor(home: Path, runs: int) -> None:
    """Each stuck query in a home of its own: in one home the second would be refused (the shape
    quarantine) and the fourth paused (the breaker), which is the point of both."""
    import os
    import signal

    stuck, back = [], []
    intact = True
    events: dict[str, Any] = {}
    for k in range(runs):
        d = home / f"sup{k}"
        settings = Settings(data_dir=d, graph_name="sup", query_max_nesting=24, query_max_cost=1 << 40, query_grace=1)
        try:
            with open_store(settings) as st:
                st.run("MERGE (:Product {id: 'kept', asin: 'kept'})", write=True)
                t = time.perf_counter()
                try:
                    st.run("RETURN " + "NOT " * 24 + "true AS x", timeout=1)
                except StoreError:
                    pass
                stuck.append(time.perf_counter() - t)
                pid = st.server._pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                back.append(_wait_restart(st.server, pid))
                intact = intact and st.run("MATCH (p:Product {id: 'kept'}) RETURN count(p) AS n") == [{"n": 1}]
                events = st.server.restarts()
        finally:
            EmbeddedServer(d).stop()
    print("\n## supervisor (timeout 1 s, grace 1 s; each run in a fresh home)")
    print(f"a query stuck in parsing (NOT x24, guard limits raised): the caller's error after {med(stuck, 1, '{:.2f}')} s")
    print(f"kill -9 of the server: answering again after {med(back, 1, '{:.2f}')} s, without any command; data intact: {intact}")
    print(f"restarts recorded in the last home: {events.get('count')}; the last: {str((events.get('last') or {}).get('reason'))[:90]}")
    check(intact, "data lost across a restart")
    check(statistics.median(stuck) < 1 + 1 + 2, f"a stuck query's caller waited {statistics.median(stuck):.2f} s (timeout 1 + grace 1)")


def beside_long(settings: Settings, query: str, n_long: int, probes: int) -> list[float]:
    """`RETURN 1` latencies while `n_long` clients keep running `query` (3 s timeout each)."""
    stop = threading.Event()

    def hog() -> None:
        with open_store(settings) as s2:
            while not stop.is_set():
                try:
                    s2.run(query, timeout=3)
                except StoreError:
                    pass

    hogs = [threading.Thread(target=hog) for _ in range(n_long)]
    for h in hogs:
        h.start()
    time.sleep(1.5)
    lat = []
    try:
        with open_store(settings) as st:
            for _ in range(probes):
                t = time.perf_counter()
                st.run("RETURN 1 AS one")
                lat.append(time.perf_counter() - t)
                time.sleep(0.1)
    finally:
        stop.set()
        for h in hogs:
            h.join()
    return lat


def admission(settings: Settings, runs: int) -> None:
    print("\n## RETURN 1 beside long queries (6 server threads: 3 for outside queries, 1 quick lane)")
    for n_long in (0, 4, 6):
        lat = beside_long(settings, LONG, n_long, 4 * runs)
        print(f"beside {n_long} long queries: {med(lat)} ms (max {max(lat) * 1000:.1f})")
        check(max(lat) < 2.5, f"RETURN 1 beside {n_long} long queries took {max(lat):.2f} s")


# -- findings --------------------------------------------------------------------------------------


def _run(store: GraphStore, text: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> str:
    t = time.perf_counter()
    try:
        rows = store.run(text, params or {}, timeout=timeout)
        what = f"answered ({len(rows)} rows)"
    except IntentKBError as e:
        what = f"{type(e).__name__}: {str(e)[:110]}"
    return f"{what} in {time.perf_counter() - t:.2f} s"


def findings(home: Path, neo4j: str | None) -> None:
    """One row per finding: what it gives now, the server process, the data."""
    print("\n## findings")
    print("| # | finding | engine | what it gives now | server process | data intact |")
    print("|---|---|---|---|---|---|")
    bombs = [
        ("1", "NOT x21 (and x40 from 4 clients)", "RETURN " + "NOT " * 21 + "true AS x", {}),
        ("1", "22 unary minus signs", "RETURN " + "-" * 22 + "1 AS x", {}),
        ("2", "UNWIND range(1, 3000000000)", "UNWIND range(1, 3000000000) AS x RETURN count(x) AS n", {}),
        ("2", "range size from data (guard cannot see it)", "UNWIND [3000000000] AS n RETURN size(range(1, n)) AS x", {}),
        ("2", "nested ranges (engine ignores its memory cap)", "RETURN size([x IN range(1,100000) | range(1,100000)]) AS n", {}),
        ("6", "3,000,000 rows", "UNWIND range(1, 3000000) AS x RETURN x", {}),
        ("6", "a 50 MB list parameter", "RETURN size($x) AS n", {"x": ["y" * 1000] * 50_000}),
        ("7", "an integer past 64 bits", "RETURN $x AS x", {"x": 10**30}),
    ]
    engines = [("embedded", Settings(data_dir=home, graph_name="findings", query_timeout=5))]
    if neo4j:
        engines.append(("neo4j", Settings(data_dir=home, graph_uri=neo4j, query_timeout=5)))
    for engine, settings in engines:
        with open_store(settings) as st:
            st.run("MERGE (:Product {id: 'kept', asin: 'kept'})", write=True)
            for num, label, text, params in bombs:
                srv = getattr(st, "server", None)
                pid = srv._pid() if srv else None
                before = srv.restarts()["count"] if srv else 0
                what = _run(st, text, params)
                if srv:
                    now = srv._pid()
                    for _ in range(100):  # the restart's record is finished just after the server answers
                        last = srv.restarts()
                        if last["count"] == before or (last["last"] or {}).get("took") is not None:
                            break
                        time.sleep(0.05)
                    proc = "same pid" if now == pid else f"restarted by itself ({last['last'].get('took')} s)" if last["count"] > before else "restarted"
                else:
                    proc = "answers" if _run(st, "RETURN 1 AS x").startswith("answered") else "DOWN"
                intact = st.run("MATCH (p:Product {id: 'kept'}) RETURN count(p) AS n") == [{"n": 1}]
                print(f"| {num} | {label} | {engine} | {what} | {proc} | {intact} |")
                check(intact and proc != "DOWN", f"finding {num} ({label}) on {engine}: data intact {intact}, server {proc}")
            if engine == "embedded":
                pid = st.server._pid()
                lat = beside_long(settings, "MATCH p=()-[*]-() RETURN count(p) AS n", 4, 5)
                same = st.server._pid() == pid
                intact = st.run("MATCH (p:Product {id: 'kept'}) RETURN count(p) AS n") == [{"n": 1}]
                print(
                    f"| 3 | RETURN 1 beside four `MATCH p=()-[*]-()` | embedded | answered in {statistics.median(lat):.3f} s (max {max(lat):.3f}) | {'same pid' if same else 'restarted'} | {intact} |"
                )
                check(max(lat) < 2.5 and same and intact, "finding 3: RETURN 1 beside four long queries")


# -- readers ---------------------------------------------------------------------------------------


def reader_files(d: Path, rows: int) -> dict[str, tuple[str, str, Path]]:
    sess = [[f"s-{i}", f"['Z{i:07d}0' 'Z{i:07d}1' 'Z{i:07d}2']", f"Z{i:07d}9", "UK"] for i in range(rows)]
    clean = "session_id,prev_items,next_item,locale\n" + "".join(f'{a},"{b}",{c},{e}\n' for a, b, c, e in sess)
    damaged_lines = clean.splitlines(keepends=True)
    for i in range(1, len(damaged_lines), 100):  # 1 % of the rows: an unbalanced quote
        damaged_lines[i] = damaged_lines[i].replace(",", ',"', 1)
    (d / "sessions.csv").write_text(clean)
    (d / "sessions_damaged.csv").write_text("".join(damaged_lines))
    (d / "sessions.csv.gz").write_bytes(gzip.compress(clean.encode()))
    pq.write_table(
        pa.Table.from_pylist(
            [{"session_id": a, "prev_items": [f"Z{i:07d}0", f"Z{i:07d}1", f"Z{i:07d}2"], "next_item": c, "locale": e} for i, (a, _, c, e) in enumerate(sess)]
        ),
        d / "sessions.parquet",
    )
    catalogue = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_products" / "test_sample_1000.csv"
    script = {
        "id": 0,
        "Abstract Goal": "Buy a tent",
        "Specific Goal": "Buy a tent for two",
        "Constraint": "for two",
        "Script": "1. Decide the size. 2. Compare prices. 3. Order it.",
        "Category": "Sports",
    }
    (d / "scripts.jsonl").write_text("".join(json.dumps({**script, "id": i, "Abstract Goal": f"Buy tent {i}"}) + "\n" for i in range(rows)))
    files = {
        "sessions CSV": ("sessions", "m2", d / "sessions.csv"),
        "sessions CSV, 1 % unbalanced quotes": ("sessions", "m2", d / "sessions_damaged.csv"),
        "sessions CSV.gz": ("sessions", "m2", d / "sessions.csv.gz"),
        "sessions parquet": ("sessions", "m2", d / "sessions.parquet"),
        "scripts JSONL": ("scripts", "coscript", d / "scripts.jsonl"),
    }
    if catalogue.exists():  # real multi-line records (descriptions span lines)
        files["Amazon catalogue CSV (1,000 products, shared data)"] = ("products", "catalog", catalogue)
    return files


def readers(rows: int, runs: int) -> None:
    print(f"\n## readers (read + validate, no store, {rows:,} records; medians of {runs})")
    d = Path(tempfile.mkdtemp(prefix="ikbr-"))
    try:
        for label, (kind, fmt, path) in reader_files(d, rows).items():
            times, counts = [], (0, 0)
            for _ in range(runs):
                reader = FORMATS[kind][fmt]()
                t = time.perf_counter()
                good = bad = 0
                for _, raw in reader.records(path):
                    if isinstance(raw, BadLine):
                        bad += 1
                        continue
                    try:
                        reader.convert(raw)
                        good += 1
                    except ValueError:
                        bad += 1
                times.append(time.perf_counter() - t)
                counts = (good, bad)
            total = counts[0] + counts[1]
            print(f"{label}: {total / statistics.median(times):,.0f} records/s ({counts[0]:,} good, {counts[1]:,} rejected)")
            if kind != "products":  # the synthetic files: every record good, but the 1 % damaged
                check(counts[0] >= rows * (0.98 if "unbalanced" in label else 1), f"{label}: {counts[0]:,} of {rows:,} good records read")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--neo4j", help="a throwaway Neo4j (bolt://...) to run the query bombs against too")
    ap.add_argument("--only", default="guard,shapes,supervisor,admission,findings,readers", help="sections, comma-separated")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if "guard" in only:
        guard_cost(args.runs)
    home = Path(tempfile.mkdtemp(prefix="ikbb-", dir="/tmp"))
    try:
        settings = Settings(data_dir=home, graph_name=f"b{uuid.uuid4().hex[:8]}")
        if "shapes" in only:
            shapes(settings, args.runs)
        if "supervisor" in only:
            supervisor(home, args.runs)
        if "admission" in only:
            admission(settings, args.runs)
        if "findings" in only:
            findings(home, args.neo4j)
    finally:
        EmbeddedServer(home).stop()
        shutil.rmtree(home, ignore_errors=True)
    if "readers" in only:
        readers(args.rows, args.runs)
    if FAILED:
        raise SystemExit(f"{len(FAILED)} check(s) failed: " + "; ".join(FAILED))


if __name__ == "__main__":
    main()
