"""Named queries: trees, streamed trajectories, product and pair intentions, on every store."""

from __future__ import annotations

import json

import pytest

from intentkb.demo import data_path
from intentkb.generate.schedule import BranchingSchedule
from intentkb.ingest import ingest_file
from intentkb.ingest.synthetic import forest_totals, synthetic_forest
from intentkb.kb.queries import (
    check_tree,
    iter_session_ids,
    iter_trajectories,
    keyset_pages,
    pair_cobuy_intentions,
    product_intentions,
    relation_preserve_rates,
    session_tree,
    trajectory_details,
    tree_profile,
)

from ..conftest import FIXTURES

TREES = [json.loads(line) for line in data_path("trees.jsonl").read_text().splitlines()]


@pytest.fixture
def demo_store(store, tmp_path):
    for kind, path in [("products", data_path("products.csv")), ("cobuy", FIXTURES / "mind_sample.csv"), ("trees", data_path("trees.jsonl"))]:
        ingest_file(store, kind, path, rejects_path=tmp_path / "r.jsonl")
    return store


def leaves(node, path=()):
    path = path + (node,)
    if not node.get("children"):
        yield path
    for c in node.get("children", []):
        yield from leaves(c, path)


def test_trajectories_are_root_to_leaf_paths(demo_store):
    got = list(iter_trajectories(demo_store, page=2))
    expected = sum(len(list(leaves(t["intentions"][0]))) for t in TREES)
    assert len(got) == expected == 12
    by_session = {}
    for t in got:
        by_session.setdefault(t["session"], []).append(len(t["intentions"]))
    assert by_session == {"demo-skate": [4] * 4, "demo-puzzle": [3] * 4, "demo-doll": [3] * 4}
    assert len({tuple(t["intentions"]) for t in got}) == 12


def test_trajectory_details_follow_the_session(demo_store):
    tree = TREES[0]
    rows = trajectory_details(demo_store, tree["session_id"])
    expected_paths = {tuple(n["text"] for n in p) for p in leaves(tree["intentions"][0])}
    assert {tuple(s["text"] for s in r["steps"]) for r in rows} == expected_paths
    product_ids = [p["id"] for p in tree["products"]]
    for r in rows:
        assert [s["step"] for s in r["steps"]] == [1, 2, 3, 4]
        assert [s["product"] for s in r["steps"]] == product_ids  # AT follows the viewing order
        assert r["steps"][0]["comparison"] is None and all(s["comparison"] for s in r["steps"][1:])
        assert all(": " in s["attribute"] for s in r["steps"])
    path = next(p for p in leaves(tree["intentions"][0]) if p[-1]["text"].startswith("Adds low-cost"))
    row = next(r for r in rows if r["steps"][-1]["text"] == path[-1]["text"])
    assert [s["attribute"] for s in row["steps"]] == [n["attribute"] for n in path]
    assert row["steps"][1]["comparison_aspect"] == path[1]["comparison"]["aspect"]


def test_session_tree_as_networkx(demo_store):
    g = session_tree(demo_store, "demo-skate")
    assert tree_profile(g) == {1: 1, 2: 2, 3: 4, 4: 4}
    assert check_tree(g) == []
    root = next(n for n, d in g.in_degree() if d == 0)
    assert g.nodes[root]["product"] == "B07KKP575G" and g.out_degree(root) == 2


def test_session_ids_stream_in_pages(demo_store):
    assert list(iter_session_ids(demo_store, page=1)) == ["demo-doll", "demo-puzzle", "demo-skate"]


def test_one_pager_for_one_and_two_keys(demo_store):
    """keyset_pages: `$after` on `id`, or one parameter per key (`$a`, `$b` for product pairs), and a row limit."""
    whole = demo_store.run("gen_cobuy_pairs_page", {"a": "", "b": "", "limit": 100_000})
    pages = list(keyset_pages(demo_store, "gen_cobuy_pairs_page", 3, keys=("a", "b")))
    assert len(whole) > 6 and all(len(p) <= 3 for p in pages) and [r for p in pages for r in p] == whole
    assert sum(len(p) for p in keyset_pages(demo_store, "gen_cobuy_pairs_page", 3, keys=("a", "b"), limit=5)) == 5
    ids = [r["id"] for p in keyset_pages(demo_store, "session_ids_page", 1) for r in p]
    assert ids == sorted(ids) == list(iter_session_ids(demo_store)) and len(ids) == 3
    assert list(keyset_pages(demo_store, "session_ids_page", 2, limit=0)) == []


def test_product_and_pair_intentions(demo_store):
    import csv

    rec = next(csv.DictReader(open(FIXTURES / "mind_sample.csv", newline="")))
    a, b, rel = rec["id_a_1"], rec["id_b_1"], rec["Relation_1"]
    forward = pair_cobuy_intentions(demo_store, a, b)
    assert forward and forward == pair_cobuy_intentions(demo_store, b, a)  # either order
    assert any(r["text"] == rec["Intention_1"].strip() for r in forward)
    only = pair_cobuy_intentions(demo_store, a, b, relation=rel)
    assert only and all(r["relation"] == rel for r in only)
    kept = pair_cobuy_intentions(demo_store, a, b, accepted_only=True)
    assert all(r["accepted"] is True for r in kept)
    about_a = product_intentions(demo_store, a)
    assert any(r["other_product"] == b and r["via"] == "EXPLAINS" for r in about_a)
    at = product_intentions(demo_store, "B07KKP575G")
    assert at and all(r["kind"] == "session" and r["via"] == "AT" for r in at)


def test_relation_preserve_rates(demo_store):
    rates = relation_preserve_rates(demo_store)
    assert sum(r["intentions"] for r in rates) == 10
    for r in rates:
        assert 0 <= r["accepted"] <= r["intentions"]
        assert r["preserve_rate"] == pytest.approx(r["accepted"] / r["intentions"])


def test_synthetic_forest_counts(store, tmp_path):
    lengths = {3: 3, 4: 2, 5: 1}
    schedule = BranchingSchedule()
    f = tmp_path / "forest.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in synthetic_forest(lengths, schedule, products=50)))
    s = ingest_file(store, "trees", f, batch_size=200)
    totals = forest_totals(lengths, schedule)
    assert s.loaded == 6
    c = store.counts()
    assert c["nodes"]["Intention"] == totals["intentions"] == 3 * 31 + 2 * 156 + 281
    assert c["edges"]["BRANCH"] == totals["intentions"] - 6 and c["edges"]["AT"] == totals["intentions"]
    assert sum(1 for _ in iter_trajectories(store, page=4)) == totals["trajectories"]
    for sid in list(iter_session_ids(store)):
        g = session_tree(store, sid)
        length = max(tree_profile(g))
        assert list(tree_profile(g).values()) == schedule.nodes_per_step(length)
        assert check_tree(g) == []
