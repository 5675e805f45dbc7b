"""A fuzz suite that stays: hypothesis writes files that mix real rows (cut from the fixtures and
the demo data) with damaged copies of them, for every reader and container (CSV, JSONL, parquet,
gzip), and asserts for every file: no exception escapes, `read = loaded + rejected` with `read`
equal to the records written, every good record is in the graph with its content, and every reject
names the file, a damaged record's line and a reason.

Bounded for CI (INTENTKB_FUZZ_EXAMPLES files per reader, default 60; INTENTKB_FUZZ_RANDOM=1 draws new cases each run); set it higher for a long run,
e.g. `INTENTKB_FUZZ_EXAMPLES=500 python -m pytest tests/ingest/test_fuzz_readers.py`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentkb.config import Settings
from intentkb.demo import data_path
from intentkb.ingest import IngestFailed, ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedStore
from intentkb.kb.models import clean_text
from intentkb.kb.store import GraphStore

from ..conftest import FIXTURES

EXAMPLES = int(os.environ.get("INTENTKB_FUZZ_EXAMPLES", "60"))
TOTALS: dict[str, int] = {"files": 0, "records": 0, "good": 0, "loaded": 0, "rejected": 0, "crashes": 0, "lost": 0}


# -- the real rows ------------------------------------------------------------------------------


def _csv_dicts(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@dataclass
class Spec:
    kind: str
    fmt: str
    container: str  # csv | jsonl | parquet | csv.gz | jsonl.gz
    rows: list[dict[str, Any]]  # real rows, as the source has them
    relabel: Callable[[dict[str, Any], str], dict[str, Any]]  # a copy of a row under ids with this prefix
    check: Callable[[GraphStore, dict[str, Any]], bool]  # is this good row in the graph with its content
    per_row: int = 1
    mode: str = "auto"


def _one(store: GraphStore, q: str, **p: Any) -> list[dict[str, Any]]:
    return store.run(q, p)


def _relabel_m2_product(r: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**r, "id": f"{tag}{r['id']}"}


def _check_m2_product(store: GraphStore, r: dict[str, Any]) -> bool:
    pid = f"{r['locale'].upper()}:{r['id']}" if r.get("locale") else r["id"]
    got = _one(store, "MATCH (p:Product {id: $id}) RETURN p.title AS t", id=pid)
    return got == [{"t": clean_text(r["title"])}]


def _relabel_catalog(r: dict[str, Any], tag: str) -> dict[str, Any]:
    asin = r["Product Url"].split("/dp/")[1][:10]
    return {**r, "Product Url": r["Product Url"].replace(asin, f"{tag}{asin[len(tag) :]}")}


def _check_catalog(store: GraphStore, r: dict[str, Any]) -> bool:
    asin = r["Product Url"].split("/dp/")[1][:10]
    got = _one(store, "MATCH (p:Product {id: $id}) RETURN p.title AS t", id=asin)
    return got == [{"t": clean_text(r["Product Name"])}]


def _relabel_session(r: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**r, "session_id": f"{tag}-{r['session_id']}"}


def _check_session(store: GraphStore, r: dict[str, Any]) -> bool:
    n = len(r["prev_items"]) if isinstance(r["prev_items"], list) else r["prev_items"].count("'") // 2
    got = _one(store, "MATCH (s:Session {id: $id})-[v:VIEWED]->() RETURN count(v) AS n", id=r["session_id"])
    return got == [{"n": n}]


def _relabel_mind(r: dict[str, Any], tag: str) -> dict[str, Any]:
    out = dict(r)
    for k in ("id_a_1", "id_b_1", "id_a_2", "id_b_2"):
        out[k] = f"{tag}{r[k][len(tag) :]}"
    return out


def _check_mind(store: GraphStore, r: dict[str, Any]) -> bool:
    for s in ("1", "2"):
        got = _one(
            store,
            "MATCH (a:Product {id: $a})<-[:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(b:Product {id: $b}) WHERE i.text = $t RETURN a.title AS ta",
            a=r[f"id_a_{s}"],
            b=r[f"id_b_{s}"],
            t=clean_text(r[f"Intention_{s}"]),
        )
        if [g["ta"] for g in got] != [clean_text(r[f"Product_a_{s}"])]:
            return False
    return True


def _relabel_iqa(r: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**r, "item_a_id": f"{tag}{r['item_a_id'][len(tag) :]}", "item_b_id": f"{tag}{r['item_b_id'][len(tag) :]}"}


def _check_iqa(store: GraphStore, r: dict[str, Any]) -> bool:
    got = _one(
        store,
        "MATCH (a:Product {id: $a})<-[:EXPLAINS]-(i:Intention)-[:EXPLAINS]->(:Product {id: $b}) RETURN i.text AS t, a.title AS ta",
        a=r["item_a_id"],
        b=r["item_b_id"],
    )
    return {"t": clean_text(r["assertion"]), "ta": clean_text(r["item_a_name"])} in got


def _relabel_script(r: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**r, "Abstract Goal": f"{tag} {r['Abstract Goal']}"}


def _check_script(store: GraphStore, r: dict[str, Any]) -> bool:
    got = _one(store, "MATCH (s:Script {objective: $o})-[:HAS_STEP]->(x) RETURN count(x) AS n", o=clean_text(r["Abstract Goal"]))
    return bool(got) and got[0]["n"] > 0


def _relabel_purchase(r: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**r, "product": f"{tag}{r['product']}", "intention": f"{tag} {r['intention']}"}


def _check_purchase(store: GraphStore, r: dict[str, Any]) -> bool:
    got = _one(store, "MATCH (i:Intention {kind: 'purchase'})-[:EXPLAINS]->(p:Product {id: $p}) RETURN i.text AS t", p=r["product"])
    return {"t": clean_text(r["intention"])} in got


def _relabel_tree(r: dict[str, Any], tag: str) -> dict[str, Any]:
    out = json.loads(json.dumps(r))
    out["session_id"] = f"{tag}-{r['session_id']}"
    for p in out["products"]:
        p["id"] = f"{tag}{p['id']}"
    return out


def _check_tree(store: GraphStore, r: dict[str, Any]) -> bool:
    def size(n: dict[str, Any]) -> int:
        return 1 + sum(size(c) for c in n.get("children") or [])

    want = sum(size(n) for n in r["intentions"])
    got = _one(store, "MATCH (:Session {id: $s})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(i) RETURN count(i) AS n", s=r["session_id"])
    return got == [{"n": want}]


def _m2_sessions() -> list[dict[str, Any]]:
    rows = _csv_dicts(FIXTURES / "m2_sessions.csv") + _csv_dicts(FIXTURES / "m2_sessions_gen.csv")
    return [{"session_id": f"s{i}", **{k: v for k, v in r.items() if k in ("prev_items", "next_item", "locale")}} for i, r in enumerate(rows)]


def _as_lists(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from intentkb.ingest.sessions import parse_items

    return [{**r, "prev_items": parse_items(r["prev_items"])} for r in rows]


def specs() -> list[Spec]:
    m2p = _csv_dicts(FIXTURES / "m2_products.csv")
    cat = _csv_dicts(FIXTURES / "catalog_sample.csv")
    mind = _csv_dicts(FIXTURES / "mind_sample.csv")
    iqa = _jsonl(FIXTURES / "intentionqa_sample.jsonl")
    cos = _jsonl(FIXTURES / "coscript_sample.jsonl")
    pur = _jsonl(data_path("purchase_intentions.jsonl"))
    trees = _jsonl(data_path("trees.jsonl"))
    sess = _m2_sessions()
    return [
        Spec("products", "m2", "csv", m2p, _relabel_m2_product, _check_m2_product),
        Spec("products", "m2", "parquet", m2p, _relabel_m2_product, _check_m2_product),
        Spec("products", "catalog", "csv.gz", cat, _relabel_catalog, _check_catalog),
        Spec("sessions", "m2", "csv", sess, _relabel_session, _check_session),
        Spec("sessions", "m2", "parquet", _as_lists(sess), _relabel_session, _check_session),
        Spec("cobuy", "mind", "csv", mind, _relabel_mind, _check_mind, per_row=2),
        Spec("cobuy", "intentionqa", "jsonl.gz", iqa, _relabel_iqa, _check_iqa),
        Spec("scripts", "coscript", "jsonl", cos, _relabel_script, _check_script),
        Spec("intentions", "purchase", "jsonl", pur, _relabel_purchase, _check_purchase),
        Spec("intentions", "purchase", "csv", pur, _relabel_purchase, _check_purchase),
        Spec("trees", "intentkb", "jsonl", trees, _relabel_tree, _check_tree, mode="merge"),
        Spec("trees", "intentkb", "jsonl", trees, _relabel_tree, _check_tree, mode="bulk"),
    ]


SPECS = specs()


# -- damage ----------------------------------------------------------------------------------

HOSTILE_VALUES = [
    "",
    " ",
    "NaN",
    "inf",
    "None",
    "1e400",
    "1.234,56",
    '["a", {"b": 1}]',
    "B0X\u200b",
    "\u202e",
    "\\",
    '"',
    "'",
    "a" * 3000,
    "Z\x00Z",
    "😀",
    "\ud800x",
]
JSON_VALUES: list[Any] = [None, 0, -1, 1.5, True, [], {}, ["x", None], {"a": [1]}, "NaN", "", "x" * 500, [[[[[[]]]]]]]


@st.composite
def line_damage(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    """A change to one physical line's bytes that keeps it one line."""
    op = draw(st.sampled_from(["truncate", "quote", "delete", "bad_utf8", "nul", "insert", "deep", "comma"]))
    pos = draw(st.floats(0, 1))
    junk = draw(st.sampled_from([b'"', b",", b"\xff\xfe", b"\xc3", b"\x00", b"{", b"[", b"\\", b"\xe2\x80\x8b", b"'", b'""', b"\t"]))

    def apply(line: bytes) -> bytes:
        i = int(pos * len(line))
        if op == "truncate":
            return line[: max(1, i)]
        if op == "quote":
            return line[:i] + b'"' + line[i:]
        if op == "delete":
            return line[:i] + line[i + 1 :]
        if op == "bad_utf8":
            return line[:i] + b"\xff\xfe" + line[i:]
        if op == "nul":
            return line[:i] + b"\x00" + line[i:]
        if op == "deep":
            return b"[" * 5000 + line + b"]" * 5000
        if op == "comma":
            return line[:i] + b",,," + line[i:]
        return line[:i] + junk + line[i:]

    return apply


@st.composite
def value_damage(draw: st.DrawFn, row: dict[str, Any], json_values: bool) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(row)))
    pool = HOSTILE_VALUES + (JSON_VALUES if json_values else [])
    value = draw(st.sampled_from(pool))
    out = dict(row)
    if draw(st.booleans()) and len(out) > 1:
        out.pop(key)
    else:
        out[key] = value
    return out


# -- writing files ---------------------------------------------------------------------------


def _csv_line(header: list[str], row: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row.get(h) is None else row.get(h) for h in header])
    return buf.getvalue().encode("utf-8", "surrogatepass")


def _json_line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


def _one_line(row: dict[str, Any]) -> dict[str, Any]:
    """A damaged copy stays on one physical line (its newlines are spaces)."""
    return {k: v.replace("\n", " ").replace("\r", " ") if isinstance(v, str) else v for k, v in row.items()}


def _build(spec: Spec, plan: list[tuple[str, Any]], path: Path) -> tuple[int, set[int], list[int], bytes]:
    """Write the file; returns (records written, physical lines of the damaged records, the first
    line of each plan entry, the file's bytes before compression)."""
    header = list(spec.rows[0].keys())
    if spec.container == "parquet":
        rows = [r for _, r in plan]
        schema = pa.Table.from_pylist([r for kind, r in plan if kind == "good"] or spec.rows).schema
        table = pa.Table.from_pylist([{k: _coerce(r.get(k), schema.field(k).type) for k in schema.names} for r in rows], schema=schema)
        pq.write_table(table, path)
        return len(rows) * spec.per_row, {i + 1 for i, (kind, _) in enumerate(plan) if kind == "bad"}, list(range(1, len(rows) + 1)), b""
    chunks: list[bytes] = [(",".join(_quote(h) for h in header) + "\n").encode()] if "csv" in spec.container else []
    line = len(chunks) + 1
    damaged: set[int] = set()
    firsts: list[int] = []
    for kind, payload in plan:
        data = payload if isinstance(payload, bytes) else (_csv_line(header, payload) if "csv" in spec.container else _json_line(payload))
        if kind == "bad":
            damaged.add(line)
        firsts.append(line)
        chunks.append(data if data.endswith(b"\n") else data + b"\n")
        line += chunks[-1].count(b"\n")
    blob = b"".join(chunks)
    path.write_bytes(gzip.compress(blob) if spec.container.endswith(".gz") else blob)
    return len(plan) * spec.per_row, damaged, firsts, blob


def _quote(h: str) -> str:
    return '"' + h.replace('"', '""') + '"' if ("," in h or '"' in h) else h


def _coerce(v: Any, typ: pa.DataType) -> Any:
    if v is None:
        return None
    if pa.types.is_list(typ):
        items = v if isinstance(v, list) and all(isinstance(x, str) or x is None for x in v) else [str(v)]
        return [x.encode("utf-8", "replace").decode("utf-8") if isinstance(x, str) else x for x in items]
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        text = v if isinstance(v, str) else json.dumps(v)
        return text.encode("utf-8", "replace").decode("utf-8")  # parquet cannot hold a lone surrogate
    return v


@st.composite
def file_plan(draw: st.DrawFn, spec: Spec) -> list[tuple[str, Any]]:
    n_good = draw(st.integers(1, min(8, len(spec.rows))))
    good_idx = draw(st.lists(st.integers(0, len(spec.rows) - 1), min_size=n_good, max_size=n_good, unique=True))
    n_bad = draw(st.integers(0, 6))
    plan: list[tuple[str, Any]] = [("good", spec.relabel(spec.rows[i], f"G{j}")) for j, i in enumerate(good_idx)]
    for j in range(n_bad):
        base = _one_line(spec.relabel(spec.rows[draw(st.integers(0, len(spec.rows) - 1))], f"Z{j}"))
        if spec.container == "parquet" or draw(st.booleans()):
            plan.append(("bad", draw(value_damage(base, json_values="jsonl" in spec.container))))
        else:
            header = list(spec.rows[0].keys())
            text = _csv_line(header, base) if "csv" in spec.container else _json_line(base)
            plan.append(("bad", draw(line_damage())(text.rstrip(b"\n"))))
    order = draw(st.permutations(range(len(plan))))
    return [plan[i] for i in order]


# -- the CSV oracle: what the dialect says, from Python's own csv module ----------------------------


def _spans(text: str, first_line: int = 1) -> list[tuple[int, int, bool]]:
    """(first line, last line, quoting broken) of each record as Python's lenient csv reader bounds
    them, from `first_line` on (`text` holds the file from there)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    out, prev = [], 0
    for _ in reader:
        end = reader.line_num
        lines = text.split("\n")[prev:end]
        try:
            list(csv.reader(["\n".join(lines).rstrip("\r")], strict=True))
            broken = False
        except csv.Error:
            broken = True
        out.append((first_line + prev, first_line + end - 1, broken))
        prev = end
    return out


def csv_expectations(blob: bytes) -> tuple[set[int], set[int]]:
    """(lines where a record starts, first lines of the records that are certain): after broken
    quoting over several lines, a record is certain again only once the reading that restarts on
    the line after the break ends a record at the same line (see io/csv_source.py)."""
    text = blob.decode("latin-1")  # one character a byte: line structure and quotes kept
    lines = text.split("\n")
    spans = _spans(text)
    starts, certain = {a for a, _, _ in spans}, set()
    doubt_until = 0
    for a, b, broken in spans:
        if b <= doubt_until:
            continue
        if broken and b > a:
            ends = {e for _, e, _ in _spans("\n".join(lines[a:]), a + 1)}  # the other reading, from line a + 1
            doubt_until = min((e for _, e, _ in spans if e >= b and e in ends), default=len(lines) + 1)
            continue
        if not broken:
            certain.add(a)
    return starts, certain


# -- the property ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_dir(server_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return server_dir, tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.kind}-{s.fmt}-{s.container}-{s.mode}" for s in SPECS])
def test_damaged_files_lose_nothing_and_raise_nothing(spec: Spec, fuzz_dir: tuple[Path, Path]) -> None:
    server_dir, work = fuzz_dir

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,  # same cases every run
        derandomize=not os.environ.get("INTENTKB_FUZZ_RANDOM"),
    )
    @given(plan=file_plan(spec))
    def run(plan: list[tuple[str, Any]]) -> None:
        name = f"f{uuid.uuid4().hex[:10]}"
        path = work / f"{name}.{spec.container}"
        rejects = work / f"{name}.rejects.jsonl"
        written, damaged, firsts, blob = _build(spec, plan, path)
        goods = [r for kind, r in plan if kind == "good"]
        if "csv" in spec.container:  # the dialect decides what a record is: a damaged quote may hold the records after it
            starts, certain = csv_expectations(blob)
            written = (len(starts) - 1 - sum(1 for a in starts if not blob.decode("latin-1").split("\n")[a - 1].strip())) * spec.per_row
            goods = [r for (kind, r), first in zip(plan, firsts) if kind == "good" and first in certain]
            damaged = starts
        settings_ = Settings(data_dir=server_dir, graph_name=name)
        store = open_store(settings_)
        try:
            try:
                s = ingest_file(store, spec.kind, path, fmt=spec.fmt, rejects_path=rejects, mode=spec.mode)
            except IngestFailed as e:  # a file whose every record is damaged: the one allowed failure
                s = e.summary
                assert not goods, s.error
            except Exception:
                TOTALS["crashes"] += 1
                raise
            TOTALS["files"] += 1
            TOTALS["records"] += written
            TOTALS["loaded"] += s.loaded
            TOTALS["rejected"] += s.rejected
            assert s.read == s.loaded + s.rejected
            assert s.read == written, (s.read, written)
            TOTALS["good"] += len(goods) * spec.per_row
            missing = [r for r in goods if not spec.check(store, r)]
            TOTALS["lost"] += len(missing)
            assert not missing, missing[:1]
            entries = [json.loads(x) for x in rejects.read_text().splitlines()] if rejects.exists() else []
            assert len(entries) == s.rejected
            for e in entries:
                assert e["file"] == str(path) and e["reason"] and isinstance(e["line"], int)
                assert e["line"] in damaged, (e, damaged)
        finally:
            store.drop()
            store.close()
            path.unlink(missing_ok=True)
            rejects.unlink(missing_ok=True)

    run()
