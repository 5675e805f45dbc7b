"""Every reader with good and bad rows, fail-fast on wrong files, and idempotent re-runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from intentkb.demo import data_path
from intentkb.errors import FormatError
from intentkb.ingest import ingest_file
from intentkb.kb.store import GraphStore

from ..conftest import FIXTURES


def with_bad_lines(src: Path, dst: Path, bad: list[str]) -> list[int]:
    """Copy `src` and append `bad` lines; returns their line numbers."""
    text = src.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    first = text.count("\n") + 1
    dst.write_text(text + "".join(b + "\n" for b in bad), encoding="utf-8")
    return list(range(first, first + len(bad)))


def rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def load(store: GraphStore, kind: str, path: Path, tmp_path: Path, **kw):
    messages: list[str] = []
    summary = ingest_file(store, kind, path, rejects_path=tmp_path / f"{kind}.rejects.jsonl", echo=messages.append, **kw)
    return summary, rejects(tmp_path / f"{kind}.rejects.jsonl"), messages


def csv_line(fields: list[str]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def test_catalogue_products_good_and_bad(store, tmp_path):
    src = FIXTURES / "catalog_sample.csv"
    header = next(csv.reader(open(src, newline="")))

    def row(**kv):
        return csv_line([kv.get(h, "") for h in header])

    f = tmp_path / "catalog.csv"
    bad = with_bad_lines(
        src,
        f,
        [
            row(**{"Product Name": "No asin anywhere", "Product Url": "https://www.amazon.com/some-thing"}),
            row(**{"Product Name": "NaN price", "Product Url": "https://www.amazon.com/x/dp/B0000NAN01", "Selling Price": "nan"}),
            "only,three,fields",
        ],
    )
    s, rej, msgs = load(store, "products", f, tmp_path)
    assert (s.format, s.read, s.loaded, s.rejected) == ("catalog", 15, 12, 3)
    assert [r["line"] for r in rej] == bad
    assert "no ASIN" in rej[0]["reason"] and "price" in rej[1]["reason"] and "fields" in rej[2]["reason"]
    assert msgs[0] == f"{f}:{bad[0]}: rejected: {rej[0]['reason']}"
    assert store.counts()["nodes"]["Product"] == 12
    # the catalogue row whose price reads "Total price:" loads, with no price
    row = store.run("MATCH (p:Product {id: $id}) RETURN p.price AS price, p.title AS title", {"id": "B07X4JQ35K"})
    assert row and row[0]["price"] is None and row[0]["title"].startswith("Huffy")
    first = store.run("MATCH (p:Product {id: 'B07KMVJJK7'}) RETURN p.price AS price, size(p.image_urls) AS images")[0]
    assert first["price"] == pytest.approx(237.68) and first["images"] >= 1


def test_m2_products_csv_and_parquet(store, tmp_path):
    src = FIXTURES / "m2_products.csv"
    f = tmp_path / "products.csv"
    bad = with_bad_lines(src, f, [csv_line(["", "UK", "no id"] + [""] * 8), csv_line(["B0INFPRICE", "UK", "inf price", "inf"] + [""] * 7)])
    s, rej, _ = load(store, "products", f, tmp_path, fmt="m2")
    assert (s.read, s.loaded, s.rejected) == (14, 12, 2)
    assert [r["line"] for r in rej] == bad and "id: must not be empty" in rej[0]["reason"] and "finite" in rej[1]["reason"]
    got = store.run("MATCH (p:Product {id: 'UK:B008AK6DAS'})-[:HAS_ATTRIBUTE]->(a:Attribute) RETURN a.name AS n, a.value AS v ORDER BY n")
    assert {"n": "color", "v": "white"} in got and {"n": "material", "v": "plastic"} in got

    table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(column_types={"price": pa.float64()}))
    table = pa.concat_tables([table, pa.table({c: [None] * 1 for c in table.column_names}).cast(table.schema)])
    pq.write_table(table, tmp_path / "products.parquet")
    s2, rej2, _ = load(store, "products", tmp_path / "products.parquet", tmp_path)
    assert (s2.format, s2.read, s2.loaded, s2.rejected) == ("m2", 13, 12, 1)
    assert rej2[0]["line"] == 13 and "id" in rej2[0]["reason"]
    assert s2.written.nodes_created == 0  # same products as the CSV


def test_m2_sessions_good_and_bad(store, tmp_path):
    f = tmp_path / "sessions.csv"
    bad = with_bad_lines(
        FIXTURES / "m2_sessions.csv",
        f,
        [csv_line(["B07KMVJJK7 B008AK6DAS", "", "UK"]), csv_line(["[]", "", "UK"]), csv_line(["['B07KMVJJK7']", "not an id", "UK"])],
    )
    s, rej, _ = load(store, "sessions", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (7, 4, 3)
    # the third good session's prev_items spans two physical lines (numpy wrapping: lines 4-5), and
    # the numbers are physical lines of the file, as an editor shows them
    assert [r["line"] for r in rej] == bad == [7, 8, 9]
    assert "expected a list" in rej[0]["reason"] and "empty session" in rej[1]["reason"] and "next_item" in rej[2]["reason"]
    c = store.counts()
    assert c["nodes"]["Session"] == 4 and c["edges"]["VIEWED"] == 10
    wrapped = store.run("MATCH (s:Session {length: 4})-[v:VIEWED]->(p:Product) RETURN v.pos AS pos, p.id AS id ORDER BY pos")
    assert [r["pos"] for r in wrapped] == [1, 2, 3, 4] and wrapped[1]["id"] == wrapped[3]["id"] == "UK:B074NCGNX2"


def test_mind_cobuy_good_and_bad(store, tmp_path):
    src = FIXTURES / "mind_sample.csv"
    rows = list(csv.reader(open(src, newline="")))
    header = rows[0]
    broken = list(rows[1])
    broken[header.index("Relation_1")] = "likes"  # record 1 of this row: unknown relation
    broken[header.index("id_a_2")] = ""  # record 2: no product id
    f = tmp_path / "mind.csv"
    with open(f, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    broken_line = f.read_bytes().count(b"\n") + 1  # descriptions span lines: count physical lines
    with open(f, "a", newline="") as fh:
        csv.writer(fh).writerow(broken)
    s, rej, _ = load(store, "cobuy", f, tmp_path)
    assert (s.format, s.read, s.loaded, s.rejected) == ("mind", 12, 10, 2)
    assert [r["line"] for r in rej] == [broken_line, broken_line]
    assert "unknown relation 'likes'" in rej[0]["reason"] and "id_a" in rej[1]["reason"]
    c = store.counts()
    assert c["nodes"]["Intention"] == 10 and c["edges"]["EXPLAINS"] == 20
    kept = store.run("MATCH (i:Intention) RETURN i.accepted AS a, i.filter_reason AS r, i.relation AS rel")
    assert all(k["a"] in (True, False) and k["r"] for k in kept)


def test_intentionqa_good_and_bad(store, tmp_path):
    f = tmp_path / "iqa.jsonl"
    good = json.loads((FIXTURES / "intentionqa_sample.jsonl").read_text().splitlines()[0])
    bad = with_bad_lines(
        FIXTURES / "intentionqa_sample.jsonl",
        f,
        [
            '{"item_a_id": "B1", "item_b_id": "B2", "relation": "isA", "assertion": ',
            json.dumps({**good, "relation": "hates"}),
            json.dumps({**good, "item_b_id": good["item_a_id"]}),
        ],
    )
    s, rej, _ = load(store, "cobuy", f, tmp_path)
    assert (s.format, s.read, s.loaded, s.rejected) == ("intentionqa", 11, 8, 3)
    assert [r["line"] for r in rej] == bad
    assert "invalid JSON" in rej[0]["reason"] and "unknown relation" in rej[1]["reason"] and "same product" in rej[2]["reason"]
    typ = store.run("MATCH (i:Intention) WHERE i.source = 'intentionqa' RETURN count(i) AS n, min(i.typicality) AS t")
    assert typ[0]["n"] == 8 and typ[0]["t"] == pytest.approx(0.5)


def test_coscript_good_and_bad(store, tmp_path):
    f = tmp_path / "coscript.jsonl"
    bad = with_bad_lines(
        FIXTURES / "coscript_sample.jsonl",
        f,
        [
            json.dumps({"id": 99, "Abstract Goal": "Cook", "Script": [], "Category": "Food"}),
            json.dumps({"id": 98, "Abstract Goal": " ", "Script": ["1. Do it."]}),
            "not json at all",
        ],
    )
    s, rej, _ = load(store, "scripts", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (23, 20, 3)
    assert [r["line"] for r in rej] == bad
    assert "no steps" in rej[0]["reason"] and "Abstract Goal: must not be empty" in rej[1]["reason"] and "invalid JSON" in rej[2]["reason"]
    first = json.loads((FIXTURES / "coscript_sample.jsonl").read_text().splitlines()[0])
    steps = store.run("MATCH (c:Script {objective: $o})-[:HAS_STEP]->(s:Step) RETURN s.idx AS i, s.text AS t ORDER BY i", {"o": first["Abstract Goal"]})
    assert [r["t"] for r in steps] == [x.split(". ", 1)[1] for x in first["Script"]]
    c = store.counts()
    assert c["edges"]["NEXT"] == c["nodes"]["Step"] - c["nodes"]["Script"]


def test_purchase_intentions_good_and_bad_jsonl_and_csv(store, tmp_path):
    f = tmp_path / "purchase.jsonl"
    bad = with_bad_lines(data_path("purchase_intentions.jsonl"), f, [json.dumps({"product": "B07KMVJJK7"}), json.dumps({"intention": "to skate"}), "[1, 2"])
    s, rej, _ = load(store, "intentions", f, tmp_path)
    assert (s.format, s.read, s.loaded, s.rejected) == ("purchase", 38, 35, 3)
    assert [r["line"] for r in rej] == bad
    assert "intention: missing" in rej[0]["reason"] and "product: missing" in rej[1]["reason"] and "invalid JSON" in rej[2]["reason"]
    rows = store.run("MATCH (i:Intention {kind: 'purchase'})-[e:EXPLAINS]->(p:Product {id: 'B07KMVJJK7'}) RETURN e.role AS role, i.text AS t")
    assert len(rows) == 2 and {r["role"] for r in rows} == {"p"}
    # CSV with other column names; a title fills in a product the catalogue does not have
    c = tmp_path / "purchase.csv"
    c.write_text("asin,text,title\nB000NEW001,The customer bought it to keep tea warm.,Insulated Teapot\n,no product,\n")
    s, rej, _ = load(store, "intentions", c, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (2, 1, 1) and rej[0]["line"] == 3
    assert store.run("MATCH (i:Intention)-[:EXPLAINS]->(p:Product {id: 'B000NEW001'}) RETURN p.title AS t")[0]["t"] == "Insulated Teapot"


def test_trees_good_and_bad(store, tmp_path):
    f = tmp_path / "trees.jsonl"
    one = json.loads(data_path("trees.jsonl").read_text().splitlines()[1])
    too_deep = {**one, "products": one["products"][:2]}
    bad_attr = json.loads(json.dumps(one))
    bad_attr["intentions"][0]["attribute"] = "no colon here"
    no_text = json.loads(json.dumps(one))
    no_text["intentions"][0]["children"][0]["text"] = "   "
    bad = with_bad_lines(data_path("trees.jsonl"), f, [json.dumps(too_deep), json.dumps(bad_attr), json.dumps(no_text)])
    s, rej, _ = load(store, "trees", f, tmp_path)
    assert (s.read, s.loaded, s.rejected) == (6, 3, 3)
    assert [r["line"] for r in rej] == bad
    assert "3 steps deep" in rej[0]["reason"] and "attribute" in rej[1]["reason"] and "intentions.0.children.0.text" in rej[2]["reason"]
    c = store.counts()
    assert c["nodes"]["Intention"] == 11 + 7 + 7 and c["edges"]["ROOT"] == 3 and c["edges"]["BRANCH"] == 22
    assert c["edges"]["AT"] == c["edges"]["VALUES"] == 25


@pytest.mark.parametrize(
    "kind,fixture",
    [("scripts", "catalog_sample.csv"), ("sessions", "coscript_sample.jsonl"), ("trees", "intentionqa_sample.jsonl"), ("cobuy", "m2_products.csv")],
)
def test_wrong_format_fails_fast_and_writes_nothing(store, tmp_path, kind, fixture):
    with pytest.raises(FormatError, match=r"format|JSON"):
        ingest_file(store, kind, FIXTURES / fixture, rejects_path=tmp_path / "r.jsonl")
    assert sum(store.counts()["nodes"].values()) == 0
    assert not (tmp_path / "r.jsonl").exists()


def test_unreadable_files_fail_fast(store, tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        ingest_file(store, "products", tmp_path / "missing.csv")
    with pytest.raises(FormatError, match="directory"):
        ingest_file(store, "scripts", tmp_path)
    (tmp_path / "latin1.csv").write_bytes("id,title\nB1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(FormatError, match="UTF-8"):
        ingest_file(store, "products", tmp_path / "latin1.csv", fmt="m2")
    (tmp_path / "blob.jsonl").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(FormatError, match="binary"):
        ingest_file(store, "scripts", tmp_path / "blob.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(FormatError, match="empty"):
        ingest_file(store, "scripts", tmp_path / "empty.jsonl")
    assert sum(store.counts()["nodes"].values()) == 0


def test_gzipped_input(store, tmp_path):
    import gzip

    gz = tmp_path / "coscript.jsonl.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "coscript_sample.jsonl").read_bytes()))
    s = ingest_file(store, "scripts", gz)
    assert (s.read, s.loaded) == (20, 20)


ALL = [
    ("products", FIXTURES / "catalog_sample.csv", None),
    ("products", FIXTURES / "m2_products.csv", "m2"),
    ("sessions", FIXTURES / "m2_sessions.csv", None),
    ("cobuy", FIXTURES / "mind_sample.csv", None),
    ("cobuy", FIXTURES / "intentionqa_sample.jsonl", None),
    ("scripts", FIXTURES / "coscript_sample.jsonl", None),
    ("trees", data_path("trees.jsonl"), None),
    ("intentions", data_path("purchase_intentions.jsonl"), None),
]


def test_loading_everything_twice_changes_no_count(store, tmp_path):
    for kind, path, fmt in ALL:
        ingest_file(store, kind, path, fmt=fmt, rejects_path=tmp_path / "r.jsonl")
    first = store.counts()
    assert all(first["nodes"][label] > 0 for label in ("Product", "Attribute", "Session", "Intention", "Script", "Step"))
    for kind, path, fmt in ALL:
        s = ingest_file(store, kind, path, fmt=fmt, rejects_path=tmp_path / "r.jsonl")
        assert (s.written.nodes_created, s.written.relationships_created) == (0, 0), (kind, path)
    assert store.counts() == first


def test_m2_sessions_parquet_link_to_m2_products(store, tmp_path):
    ingest_file(store, "products", FIXTURES / "m2_products.csv", fmt="m2", rejects_path=tmp_path / "r.jsonl")
    products = store.counts()["nodes"]["Product"]
    table = pa.table(
        {
            "prev_items": pa.array([["B008AK6DAS", "B076Y2SNHM"], ["B07KMVJJK7"], []], type=pa.list_(pa.string())),
            "next_item": ["B07PF1R8LS", None, None],
            "locale": ["UK", "DE", "UK"],
        }
    )
    pq.write_table(table, tmp_path / "sessions.parquet")
    s, rej, _ = load(store, "sessions", tmp_path / "sessions.parquet", tmp_path)
    assert (s.read, s.loaded, s.rejected) == (3, 2, 1) and rej[0]["line"] == 3 and "empty session" in rej[0]["reason"]
    assert store.counts()["nodes"]["Product"] == products  # sessions found the locale:ASIN products
    titled = store.run("MATCH (:Session {locale: 'UK'})-[v:VIEWED]->(p:Product) RETURN v.pos AS pos, p.id AS id, p.title AS title ORDER BY pos")
    assert [r["id"] for r in titled] == ["UK:B008AK6DAS", "UK:B076Y2SNHM"] and all(r["title"] for r in titled)


def test_a_repeated_record_later_in_the_file_wins_whatever_the_batching(store, tmp_path):
    """FalkorDB keeps the first of two MERGE + SET rows for one node in one UNWIND; a repeated id
    starts a new batch, so the later record wins on every engine."""
    f = tmp_path / "p.csv"
    f.write_text("id,locale,title,price\nB0TEST0001,UK,First title,1.0\nB0TEST0002,UK,Other,2.0\nB0TEST0001,UK,Second title,\n")
    s, _, _ = load(store, "products", f, tmp_path, fmt="m2")
    assert (s.loaded, s.written.nodes_created) == (3, 2)
    row = store.run("MATCH (p:Product {id: 'UK:B0TEST0001'}) RETURN p.title AS t, p.price AS price")[0]
    assert row == {"t": "Second title", "price": 1.0}  # SET += keeps what the later record leaves empty
