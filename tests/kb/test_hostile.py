"""Each finding of the hostile-user report (issue "nothing lost, nothing crashes"), as a test that
failed before the fix: damaged files lose no good row and raise no traceback, the console cannot
stall or kill the server, a copied data directory cannot stop someone else's server, the later
record wins, values are read as the schema says or rejected, users' files are private, and a bulk
load waits for other writers instead of failing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intentkb.config import Settings
from intentkb.demo import data_path
from intentkb.errors import FormatError, StoreError
from intentkb.ingest import IngestFailed, ingest_file
from intentkb.ingest.fields import read_key, read_price
from intentkb.ingest.synthetic import synthetic_forest
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.falkordb.locks import held_elsewhere
from intentkb.kb.guard import QueryRefused
from intentkb.kb.store import GraphStore

from ..conftest import FIXTURES, short_tmpdir
from ..ingest.test_crash import env_for
from ..ingest.test_ingest import load


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def session_rows(n: int, prefix: str = "s") -> list[list[str]]:
    return [[f"{prefix}-{i:03d}", f"['Z{i:07d}0' 'Z{i:07d}1']", f"Z{i:07d}9", "UK"] for i in range(n)]


def loaded_sessions(store: GraphStore) -> set[str]:
    return {r["id"] for r in store.run("MATCH (s:Session) RETURN s.id AS id")}


# -- 1. damaged CSV quoting -------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage, kept",
    [
        ("s-bad,\"['Z0750004", 30),  # a row cut inside a quoted value
        ("\"s-bad,['Z1' 'Z2'],Z3,UK", 30),  # an unbalanced opening quote
        ("s-bad,\"['Z1' 'Z2']\",Z3,\"UK", 30),  # the last field cut inside its quotes
        ("s-bad,\"['Z1' \"'Z2']\",Z3,UK", 60),  # a stray quote inside a quoted field
    ],
)
def test_a_broken_quote_is_one_reject_and_never_loads_what_it_may_hold(store, tmp_path, damage, kept):
    """A quote that stays open to the end of the file holds the rest of it, by the CSV rules: none
    of it is loaded (a line there may be text inside the field: issue 26, finding 4), the records
    before it load, and the reject says which line and why. A stray quote that the dialect closes
    on its own line costs that line only."""
    header = ["session_id", "prev_items", "next_item", "locale"]
    good = session_rows(60)
    text = csv_text([header] + good[:30]) + damage + "\n" + csv_text(good[30:])
    f = tmp_path / "sessions.csv"
    f.write_text(text)
    s, rej, _ = load(store, "sessions", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (kept + 1, kept, 1)
    assert [r["line"] for r in rej] == [32] and rej[0]["file"] == str(f) and rej[0]["reason"]
    assert loaded_sessions(store) == {r[0] for r in good[:kept]}
    if kept == 30:
        assert "never closed" in rej[0]["reason"] and "30 line(s) after it" in rej[0]["reason"]


def test_a_newline_inside_proper_quotes_stays_legal(store, tmp_path):
    header = ["session_id", "prev_items", "next_item", "locale"]
    rows = session_rows(3) + [["s-wrapped", "['Z0000000A' 'Z0000000B'\n 'Z0000000C']", "Z0000000D", "DE"]] + session_rows(2, "t")
    f = tmp_path / "sessions.csv"
    f.write_text(csv_text([header] + rows))
    s, rej, _ = load(store, "sessions", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (6, 6, 0)
    got = store.run("MATCH (s:Session {id: 's-wrapped'}) RETURN s.length AS n")
    assert got == [{"n": 3}]
    # the line after a multi-line record is numbered as an editor shows it
    f.write_text(csv_text([header] + rows) + "only-one-field\n")
    s, rej, _ = load(store, "sessions", f, tmp_path)
    assert rej[0]["line"] == 9


def test_catalogue_descriptions_spanning_lines_still_load(store, tmp_path):
    src = (FIXTURES / "catalog_sample.csv").read_text(encoding="utf-8")
    header = next(csv.reader(io.StringIO(src)))
    row = {h: "" for h in header} | {
        "Product Name": 'Multi\nline\n"quoted" name',
        "Product Url": "https://www.amazon.com/x/dp/B0MULTI001",
        "About Product": "line one\nline two, with a comma\n\nline four",
    }
    f = tmp_path / "catalog.csv"
    f.write_text(src + csv_text([[row[h] for h in header]]), encoding="utf-8")
    s, _, _ = load(store, "products", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (13, 13, 0)
    assert store.run("MATCH (p:Product {id: 'B0MULTI001'}) RETURN p.title AS t")[0]["t"] == 'Multi\nline\n"quoted" name'


# -- 2. tracebacks mid-file -------------------------------------------------------------------


def coscript_lines(n: int) -> list[str]:
    first = json.loads((FIXTURES / "coscript_sample.jsonl").read_text().splitlines()[0])
    return [json.dumps({**first, "id": i, "Abstract Goal": f"{first['Abstract Goal']} #{i}"}) for i in range(n)]


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_a_deeply_nested_json_line_is_one_reject(store, tmp_path, depth):
    lines = coscript_lines(6010)
    lines[6000] = '{"a":' * depth + "1" + "}" * depth
    f = tmp_path / "deep.jsonl"
    f.write_text("\n".join(lines) + "\n")
    s, rej, _ = load(store, "scripts", f, tmp_path, batch_size=1000)
    assert (s.read, s.loaded, s.rejected) == (6010, 6009, 1)
    assert rej[0]["line"] == 6001 and "JSON" in rej[0]["reason"]


@pytest.mark.parametrize("mode", ["bulk", "merge"])
def test_a_deeply_nested_tree_line_is_one_reject_on_both_tree_paths(estore, tmp_path, mode):
    lines = data_path("trees.jsonl").read_text().splitlines()
    deep = '{"products": [{"id": "B1"}], "intentions": [' + '{"text": "x", "children": [' * 2000 + "]}" * 2000 + "]}"
    f = tmp_path / "trees.jsonl"
    f.write_text("\n".join(lines[:2] + [deep] + lines[2:]) + "\n")
    s, rej, _ = load(estore, "trees", f, tmp_path, mode=mode)
    assert (s.read, s.loaded, s.rejected) == (len(lines) + 1, len(lines), 1)
    assert rej[0]["line"] == 3


def broken_gzip(tmp_path: Path, lines: list[str], how: str) -> Path:
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    if how == "crc":
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    else:
        data = data[: len(data) * 2 // 3]
    f = tmp_path / f"scripts-{how}.jsonl.gz"
    f.write_bytes(data)
    return f


@pytest.mark.parametrize("how", ["crc", "truncated"])
def test_a_broken_gzip_keeps_the_rows_before_and_fails_with_one_line(store, tmp_path, how):
    lines = coscript_lines(3000)
    f = broken_gzip(tmp_path, lines, how)
    with pytest.raises(IngestFailed, match=f"{f.name}: broken at line") as err:
        ingest_file(store, "scripts", f, rejects_path=tmp_path / "r.jsonl", batch_size=500)
    s = err.value.summary
    assert s.read == s.loaded + s.rejected and s.loaded > 0
    assert store.counts()["nodes"]["Script"] == s.loaded
    if how == "crc":
        assert s.loaded == 3000  # every line decompressed; only the trailer is wrong


def test_the_cli_prints_what_was_kept_then_one_error_line(tmp_path):
    d = short_tmpdir("ikbh-")
    try:
        f = broken_gzip(tmp_path, coscript_lines(2000), "truncated")
        out = subprocess.run(
            [sys.executable, "-m", "intentkb.cli.main", "ingest", "scripts", str(f)], env=env_for(d), capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "read " in out.stdout and "= loaded" in out.stdout
        assert out.stderr.strip().splitlines()[-1].startswith("Error: ") and "broken at line" in out.stderr
    finally:
        EmbeddedServer(d).stop()
        shutil.rmtree(d, ignore_errors=True)


def test_corrupt_parquet_mid_file_keeps_the_rows_before(store, tmp_path):
    rows = [{"prev_items": [f"Z{i:07d}0", f"Z{i:07d}1"], "next_item": f"Z{i:07d}9", "locale": "UK"} for i in range(20_000)]
    f = tmp_path / "sessions.parquet"
    pq.write_table(pa.Table.from_pylist(rows), f, row_group_size=5000, compression="snappy")
    data = bytearray(f.read_bytes())
    meta = pq.ParquetFile(f).metadata
    col = meta.row_group(2).column(0)  # damage the third row group's first column chunk
    start = col.data_page_offset + 40
    data[start : start + 200] = b"\xff" * 200
    f.write_bytes(bytes(data))
    with pytest.raises(IngestFailed, match="broken at row") as err:
        ingest_file(store, "sessions", f, rejects_path=tmp_path / "r.jsonl")
    s = err.value.summary
    assert s.loaded == 10_000 and s.read == s.loaded + s.rejected
    assert store.counts()["nodes"]["Session"] == 10_000


def test_parquet_with_integer_id_and_locale_columns(store, tmp_path):
    f = tmp_path / "products.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": 123456, "locale": "UK", "title": "numbered"}, {"id": 99, "locale": None, "title": "n"}]), f)
    s, _rej, _ = load(store, "products", f, tmp_path, fmt="m2")
    assert (s.read, s.loaded, s.rejected) == (2, 2, 0)
    assert {r["id"] for r in store.run("MATCH (p:Product) RETURN p.id AS id")} == {"UK:123456", "99"}
    g = tmp_path / "int_locale.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "B1", "locale": 7, "title": "x"}, {"id": "B2", "locale": 8, "title": "y"}]), g)
    with pytest.raises(IngestFailed, match="locale: not a locale"):
        ingest_file(store, "products", g, fmt="m2", rejects_path=tmp_path / "r.jsonl")


def test_a_fifo_is_refused_at_once(store, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(FormatError, match="not a regular file"):
        ingest_file(store, "products", fifo)
    assert time.monotonic() - t0 < 5


# -- 3. the console ---------------------------------------------------------------------------


def test_nested_and_long_queries_are_refused_before_they_reach_the_server(estore):
    for text in ("RETURN " + "(" * 60_000 + "1" + ")" * 60_000, "RETURN " + "[" * 60_000 + "]" * 60_000):
        t0 = time.monotonic()
        with pytest.raises(QueryRefused):
            estore.run(text)
        assert time.monotonic() - t0 < 1
    with pytest.raises(QueryRefused, match="nested 13 deep"):
        estore.run("RETURN " + "(" * 13 + "1" + ")" * 13)
    assert estore.run("RETURN " + "(" * 12 + "1" + ")" * 12 + " AS x") == [{"x": 1}]
    assert estore.run("RETURN ')))(((' AS s // ((((((((((((((((") == [{"s": ")))((("}]  # strings and comments do not count
    with pytest.raises(QueryRefused, match="characters"):
        estore.run("RETURN 1 " + " " * 200_000)
    assert estore.run("RETURN 1 AS ok") == [{"ok": 1}]  # the server is alive


def test_hostile_parameters_are_refused_with_one_line(estore):
    for params, reason in [
        ({"x": {"a`b": 1}}, "backtick"),
        ({"x": json.loads("[" * 900 + "]" * 900)}, "deep"),
        ({"x": float("nan")}, "finite"),
        ({"x": object()}, "cannot be sent"),
    ]:
        with pytest.raises(QueryRefused, match=reason):
            estore.run("RETURN $x", params)
    assert estore.run("RETURN $x AS x", {"x": {"Odd Key": [1, {"k": "v"}]}}) == [{"x": {"Odd Key": [1, {"k": "v"}]}}]


def test_a_query_past_its_timeout_ends_with_one_error(estore):
    t0 = time.monotonic()
    with pytest.raises(StoreError, match="timed out after 1 s"):
        estore.run("UNWIND range(1, 20000) AS a UNWIND range(1, 20000) AS b RETURN count(*)", timeout=1)
    assert time.monotonic() - t0 < 10
    assert estore.run("RETURN 1 AS ok") == [{"ok": 1}]


def test_the_cli_console_refuses_with_one_error_line(data_dir):
    env = env_for(data_dir)
    for args in (
        ["RETURN " + "(" * 30 + "1" + ")" * 30],
        ["RETURN $x", "-p", 'x={"a`b": 1}'],
        ["RETURN $x", "-p", "x=" + "[" * 5000 + "]" * 5000],
        ["UNWIND range(1, 20000) AS a UNWIND range(1, 20000) AS b RETURN count(*)", "--timeout", "1"],
    ):
        out = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "cypher", *args], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-500:]
        assert "Error" in out.stderr.strip().splitlines()[-1]
    ok = subprocess.run(
        [sys.executable, "-m", "intentkb.cli.main", "cypher", "RETURN 1 AS one", "--format", "json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(ok.stdout) == [{"one": 1}]


# -- 4. stopping only our own server ----------------------------------------------------------


def test_a_copied_data_directory_does_not_stop_the_original_server(data_dir):
    original = EmbeddedServer(data_dir)
    original.start()
    pid = int(original.pidfile.read_text())
    copy = short_tmpdir("ikbc-")
    try:
        shutil.copytree(data_dir, copy, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns("kb.sock"))
        (copy / "falkordb" / "server.pid").write_text(str(pid))
        clone = EmbeddedServer(copy)
        assert clone._pid() is None  # a pid file naming another directory's server names no one
        clone.stop()
        out = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "stats"], env=env_for(copy), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert original.ping() == "ok" and EmbeddedServer._alive(pid)
        EmbeddedServer(copy).stop()
        assert original.ping() == "ok"
    finally:
        EmbeddedServer(copy).stop()
        shutil.rmtree(copy, ignore_errors=True)


def test_a_stale_pid_file_never_signals_a_stranger(data_dir, tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        srv = EmbeddedServer(data_dir)
        srv.dir.mkdir(parents=True, exist_ok=True)
        srv.pidfile.write_text(str(stranger.pid))
        assert srv._pid() is None
        srv.stop()
        srv.start()  # a stale pid file is no obstacle
        assert stranger.poll() is None
    finally:
        stranger.kill()


# -- 5. the later record wins -----------------------------------------------------------------


def test_a_repeated_session_replaces_its_viewed_edges(store, tmp_path):
    header = ["session_id", "prev_items", "next_item", "locale"]
    first, later = ["s1", "['A1' 'A2' 'A3']", "", "UK"], ["s1", "['B1']", "", "UK"]
    for rows in ([first, later], [first], [later]):  # one file (one batch) and two files
        f = tmp_path / "s.csv"
        f.write_text(csv_text([header] + rows))
        load(store, "sessions", f, tmp_path)
    got = store.run("MATCH (s:Session {id: 's1'})-[v:VIEWED]->(p) RETURN s.length AS n, v.pos AS pos, p.id AS p")
    assert got == [{"n": 1, "pos": 1, "p": "UK:B1"}]


@pytest.mark.parametrize("mode", ["bulk", "merge"])
def test_a_repeated_tree_replaces_the_earlier_one(estore, tmp_path, mode):
    first = json.loads(data_path("trees.jsonl").read_text().splitlines()[0])
    later = json.loads(json.dumps(first))
    later["intentions"] = [{"text": "The only hypothesis now.", "attribute": "color: green"}]
    f = tmp_path / "trees.jsonl"
    f.write_text(json.dumps(first) + "\n" + json.dumps(later) + "\n")
    load(estore, "trees", f, tmp_path, mode=mode)
    sid = first["session_id"]
    got = estore.run(
        "MATCH (:Session {id: $s})-[:ROOT]->(r)-[:BRANCH*0..]->(i) OPTIONAL MATCH (i)-[:VALUES]->(a) RETURN i.text AS t, i.rationale AS why, a.value AS v",
        {"s": sid},
    )
    assert got == [{"t": "The only hypothesis now.", "why": None, "v": "green"}]
    assert estore.run("MATCH (i:Intention) RETURN count(i) AS n") == [{"n": 1}]


def test_a_repeated_product_takes_the_later_title_in_cobuy_and_purchase_files(store, tmp_path):
    lines = (FIXTURES / "intentionqa_sample.jsonl").read_text().splitlines()
    a = json.loads(lines[0])
    b = json.loads(lines[1]) | {"item_a_id": a["item_a_id"], "item_a_name": "The later title"}
    f = tmp_path / "iqa.jsonl"
    f.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n")
    load(store, "cobuy", f, tmp_path)
    assert store.run("MATCH (p:Product {id: $id}) RETURN p.title AS t", {"id": a["item_a_id"]}) == [{"t": "The later title"}]
    g = tmp_path / "purchase.jsonl"
    g.write_text(
        json.dumps({"product": "B0PURCH001", "intention": "one", "title": "first"})
        + "\n"
        + json.dumps({"product": "B0PURCH001", "intention": "two", "title": "second"})
        + "\n"
    )
    load(store, "intentions", g, tmp_path)
    assert store.run("MATCH (p:Product {id: 'B0PURCH001'}) RETURN p.title AS t") == [{"t": "second"}]


# -- 6. silent misreads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, want",
    [
        ("1e5", 100_000.0),
        ("1.234,56", 1234.56),
        ("12,99", 12.99),
        ("$1,234.50", 1234.5),
        ("$10.99 - $15.99", 10.99),
        ("$ 19 99 $39.95 #listPrice…", 19.99),
        ("Total price:", None),
        ("", None),
    ],
)
def test_prices_read_whole(raw, want):
    assert read_price(raw) == (pytest.approx(want) if want else None)


@pytest.mark.parametrize("raw", ['["a", {"b": 1}]', "1e400", "nan", "inf", "1.2.3", "abc 12x"])
def test_prices_that_are_not_prices_are_rejects(raw):
    with pytest.raises(ValueError):
        read_price(raw)


def test_ids_are_one_product_whatever_invisible_characters_they_carry():
    assert read_key("B0X\u200b") == read_key("\ufeffB0X") == read_key("Ｂ0X") == "B0X"
    for bad in ("NaN", "inf", "None", "null", "a b", ["x"], True, 1.5):
        with pytest.raises(ValueError):
            read_key(bad)


def test_undecodable_bytes_and_nuls_are_per_row_rejects_anywhere(store, tmp_path):
    header = "session_id,prev_items,next_item,locale\n"
    good = csv_text(session_rows(3000))  # > 64 KiB before the damage
    assert len(good) > 65536
    data = header.encode() + good.encode() + b"s-bad1,\"['Z\xff\xfe']\",Z1,UK\n" + b"s-bad2,\"['Z1']\",Z\x002,UK\n" + csv_text(session_rows(5, "t")).encode()
    f = tmp_path / "s.csv"
    f.write_bytes(data)
    s, rej, _ = load(store, "sessions", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (3007, 3005, 2)
    assert "UTF-8" in rej[0]["reason"] and "NUL" in rej[1]["reason"] and [r["line"] for r in rej] == [3002, 3003]
    early = tmp_path / "early.csv"
    early.write_bytes(header.encode() + b"s-bad1,\"['Z\xff\xfe']\",Z1,UK\n" + good.encode())
    s, rej, _ = load(store, "sessions", early, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (3001, 3000, 1)  # the same rule early in the file


def test_null_words_and_none_items_never_become_products(store, tmp_path):
    f = tmp_path / "s.jsonl"  # sessions from JSON rows through the parquet path
    rows = [
        {"prev_items": ["B01", "B02"], "next_item": None, "locale": "UK"},
        {"prev_items": ["B01", None], "next_item": "B03", "locale": "UK"},
        {"prev_items": ["B01"], "next_item": "NaN", "locale": "UK"},
        {"prev_items": ["B01"], "next_item": "inf", "locale": "UK"},
    ]
    p = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    s, _rej, _ = load(store, "sessions", p, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (4, 1, 3)
    ids = {r["id"] for r in store.run("MATCH (p:Product) RETURN p.id AS id")}
    assert ids == {"UK:B01", "UK:B02"}
    del f


# -- 7. all rejected is a wrong format ------------------------------------------------------


def test_a_file_of_another_kind_is_a_wrong_format_error(store, tmp_path):
    with pytest.raises(IngestFailed, match="every one of 20 records was rejected") as err:
        ingest_file(store, "intentions", FIXTURES / "coscript_sample.jsonl", rejects_path=tmp_path / "r.jsonl")
    assert err.value.summary.read == 20 and err.value.summary.loaded == 0
    assert store.counts()["nodes"]["Intention"] == 0


def test_a_bad_mind_row_counts_both_its_records(store, tmp_path):
    src = (FIXTURES / "mind_sample.csv").read_text(encoding="utf-8")
    f = tmp_path / "mind.csv"
    f.write_text(src.rstrip("\n") + "\nonly,three,fields\n", encoding="utf-8")
    s, _rej, _ = load(store, "cobuy", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (12, 10, 2)


# -- 8. private files -------------------------------------------------------------------------


def test_users_files_under_the_data_directory_are_private(data_dir, tmp_path):
    os.umask(0o022)
    settings = Settings(data_dir=data_dir)
    f = tmp_path / "c.jsonl"
    f.write_text((FIXTURES / "coscript_sample.jsonl").read_text() + "not json\n")
    with open_store(settings) as st:
        s = ingest_file(st, "scripts", f)
    mode = lambda p: Path(p).stat().st_mode & 0o777  # noqa: E731
    assert mode(data_dir) == 0o700 and mode(settings.rejects_dir) == 0o700 and mode(s.rejects_file) == 0o600
    from intentkb.llm.cache import ResponseCache
    from intentkb.retrieval.embeddings import EmbeddingCache

    ResponseCache(data_dir / "llm" / "cache.sqlite")
    EmbeddingCache(settings.embedding_cache_path)
    assert mode(data_dir / "llm") == 0o700 and mode(data_dir / "llm" / "cache.sqlite") == 0o600
    assert mode(settings.embedding_cache_path) == 0o600


# -- 9. a bulk load and another writer ------------------------------------------------------


def test_a_bulk_load_and_a_concurrent_ingest_both_succeed(tmp_path):
    d = short_tmpdir("ikbw-")
    try:
        forest = tmp_path / "forest.jsonl"
        forest.write_text("\n".join(json.dumps(r) for r in synthetic_forest({4: 600}, products=200, seed=3)) + "\n")
        env = env_for(d)
        subprocess.run([sys.executable, "-m", "intentkb.cli.main", "init"], env=env, check=True, capture_output=True, timeout=60)
        cmd = [sys.executable, "-m", "intentkb.cli.main", "ingest"]
        bulk = subprocess.Popen(cmd + ["trees", str(forest), "--workers", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = EmbeddedServer(d).dir / "writers.intentkb.lock"
        deadline = time.monotonic() + 120
        while not held_elsewhere(lock) and bulk.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # until the bulk load holds the writers' lock: the two must overlap
        assert bulk.poll() is None and held_elsewhere(lock), "the bulk load ended before the other ingest started; the test proves nothing"
        other = subprocess.run(cmd + ["products", str(FIXTURES / "catalog_sample.csv")], env=env, capture_output=True, text=True, timeout=300)
        _out, err = bulk.communicate(timeout=300)
        assert bulk.returncode == 0, err[-800:]
        assert other.returncode == 0, other.stderr[-800:]
        with open_store(Settings(data_dir=d)) as st:
            counts = st.counts()["nodes"]
        assert counts["Session"] == 600 and counts["Intention"] == 600 * 156
        assert counts["Product"] >= 200 + 12
    finally:
        EmbeddedServer(d).stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("mode", ["bulk", "merge"])
def test_a_tree_whose_session_id_is_too_long_is_one_reject(estore, tmp_path, mode):
    """Found by the fuzz suite: a 3,000-character session id passed the tree model and crashed the
    load when its Session node was built."""
    lines = data_path("trees.jsonl").read_text().splitlines()
    long_id = json.loads(lines[0]) | {"session_id": "a" * 3000}
    f = tmp_path / "trees.jsonl"
    f.write_text("\n".join([json.dumps(long_id)] + lines[1:]) + "\n")
    s, rej, _ = load(estore, "trees", f, tmp_path, mode=mode)
    assert (s.read, s.loaded, s.rejected) == (len(lines), len(lines) - 1, 1)
    assert rej[0]["line"] == 1 and "session_id" in rej[0]["reason"]
