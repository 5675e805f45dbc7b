"""`intentkb report quality` on each engine: real MIND records, a near-duplicate and schema faults
planted on purpose, the table, the JSON and the HTML page."""

from __future__ import annotations

import json

from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.ingest import ingest_file
from intentkb.quality.report import quality_report

from ..conftest import FIXTURES


def _plant(store) -> str:
    """A paraphrase of an intention on its own pair, a co-buy intention with one product, a step
    with no script; returns the copied intention's id."""
    r = store.run(
        "MATCH (a:Product)<-[:EXPLAINS {role:'a'}]-(i:Intention)-[:EXPLAINS {role:'b'}]->(b:Product) RETURN i.id AS id, i.text AS t, i.relation AS rel, a.id AS a, b.id AS b ORDER BY i.id LIMIT 1"
    )[0]
    store.run(
        """MATCH (a:Product {id: $a}), (b:Product {id: $b})
           CREATE (c:Intention {id: 'copy', text: $t, kind: 'cobuy', relation: $rel, source: 'planted'})
           CREATE (c)-[:EXPLAINS {role: 'a'}]->(a) CREATE (c)-[:EXPLAINS {role: 'b'}]->(b)
           CREATE (:Intention {id: 'lonely', text: 'they like it', kind: 'cobuy'})-[:EXPLAINS {role: 'a'}]->(a)
           CREATE (:Step {id: 'orphan-step', idx: 1, text: 'do it'})""",
        {"a": r["a"], "b": r["b"], "t": r["t"] + " ", "rel": r["rel"]},
        write=True,
    )
    return r["id"]


def test_the_report_finds_what_was_planted(store, tmp_path):
    ingest_file(store, "cobuy", FIXTURES / "mind_train.csv", rejects_path=tmp_path / "r.jsonl")
    original = _plant(store)
    report = quality_report(store, store.settings)
    n = store.run("MATCH (i:Intention) RETURN count(i) AS n")[0]["n"]
    assert report.intentions == n and report.overall.intentions == n
    planted = next(s for s in report.by_source if s.name == "planted")
    assert planted.intentions == 1 and planted.near_duplicate_share == 1.0  # the copy has its original beside it
    assert report.overall.near_duplicate_share * n >= 1.99  # the copy and its original (shares are rounded to 4 places)
    problems = {p.problem: p.n for p in report.schema_problems}
    assert problems["co-buy intention without its two products"] == 1 and problems["step without its script"] == 1
    assert report.generic and all(g.unrelated_pairs >= report.generic_min_pairs for g in report.generic)
    assert {s.name for s in report.by_pipeline} == {"cobuy"} and len(report.by_relation) > 5
    assert report.products == store.run("MATCH (p:Product) RETURN count(p) AS n")[0]["n"] and report.products_without_intention == 0
    assert report.steps == 1 and report.steps_unaligned == 1 and report.critic_scores is None
    assert original != "copy"


def test_the_command_prints_a_table_json_and_a_page(store, tmp_path):
    ingest_file(store, "cobuy", FIXTURES / "mind_sample.csv", rejects_path=tmp_path / "r.jsonl")
    store.run("MATCH (i:Intention) WITH i LIMIT 3 SET i.critic_score = 0.9", write=True)
    env = {"INTENTKB_HOME": str(store.settings.data_dir), "INTENTKB_GRAPH": store.settings.graph_name, "INTENTKB_GRAPH_URI": store.settings.graph_uri}
    table = CliRunner().invoke(cli, ["report", "quality"], env=env)
    assert table.exit_code == 0, table.output
    assert "per relation:" in table.stdout and "coverage:" in table.stdout and "critic scores:" in table.stdout
    page = tmp_path / "q.html"
    js = CliRunner().invoke(cli, ["report", "quality", "--format", "json", "--html", str(page)], env=env)
    data = json.loads(js.stdout)
    assert data["intentions"] > 0 and data["critic_scores"][-1][2] == 3
    html = page.read_text()
    plots = 3 + bool(data["generic"])  # per relation, coverage, the critic's, and the phrases when there are generic ones
    assert html.count("data:image/png;base64,") == plots and "<script" not in html
