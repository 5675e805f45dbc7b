"""The whole LLM path on a real llama.cpp server and a real (tiny) model: every stage through the
CLI on real catalogue products, structured outputs constraining what the model writes. The prose is
as poor as a 135M model's; the point is that every field arrives, parses and lands in the graph."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.ingest import ingest_file

from ..conftest import FIXTURES, LLAMA_SLOTS


def _sessions_csv(path: Path) -> None:
    """Two three-product sessions of the real M2 products in the fixtures."""
    with open(FIXTURES / "m2_sessions_gen.csv", encoding="utf-8", newline="") as src:
        rows = list(csv.DictReader(src))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prev_items", "next_item", "locale"])
        for r in rows:
            ids = r["prev_items"].strip("[]").replace("'", "").split()
            w.writerow(["[" + " ".join(f"'{i}'" for i in ids[:3]) + "]", r["next_item"], r["locale"]])


def _pairs_csv(path: Path) -> None:
    """The first record of the MIND sample: two co-bought pairs (its _1 and _2 columns)."""
    with open(FIXTURES / "mind_sample.csv", encoding="utf-8", newline="") as src, open(path, "w", encoding="utf-8", newline="") as dst:
        csv.writer(dst).writerows(row for _, row in zip(range(2), csv.reader(src)))


def _stage_counts(record: dict) -> list[tuple[str, int, int, int]]:
    out = []
    for s in record["stages"]:
        assert s["items"] == s["written"] + s["rejected"] + s["deferred"], s
        out.append((s["stage"], s["items"], s["written"], s["rejected"]))
    return out


def test_the_whole_pipeline_on_a_real_llama_cpp_server(estore, tmp_path, llama_server):
    settings = estore.settings
    env = {
        "INTENTKB_GRAPH": settings.graph_name,
        "OPENAI_BASE_URL": llama_server.url,
        "OPENAI_API_KEY": "",
        "INTENTKB_LLM_MODEL": "SmolLM2-135M-Instruct",
        "INTENTKB_LLM_CONCURRENCY": str(LLAMA_SLOTS),
        "INTENTKB_LLM_CACHE": str(tmp_path / "cache.sqlite"),
        "INTENTKB_LLM_TIMEOUT": "120",
        "INTENTKB_LLM_OUTPUT": "auto",
        "INTENTKB_LLM_MULTIMODAL": "off",
    }
    runner = CliRunner()

    def run(*args: str) -> dict:
        r = runner.invoke(cli, ["--data-dir", str(settings.data_dir), *args], env=env)
        assert r.exit_code == 0, r.output
        return json.loads(r.output[r.output.index("{") :])

    ingest_file(estore, "products", FIXTURES / "m2_products.csv", rejects_path=tmp_path / "p.rejects.jsonl")
    _sessions_csv(tmp_path / "sessions.csv")
    ingest_file(estore, "sessions", tmp_path / "sessions.csv", rejects_path=tmp_path / "s.rejects.jsonl")
    _pairs_csv(tmp_path / "pairs.csv")
    ingest_file(estore, "cobuy", tmp_path / "pairs.csv", rejects_path=tmp_path / "c.rejects.jsonl")
    estore.run("MATCH (p:Product) WHERE p.features IS NOT NULL SET p.features = null", write=True)

    commands = [
        ("generate", "attributes"),
        ("generate", "trees", "--width", "2", "--branch-until", "2"),
        ("generate", "mind", "--relation", "isA"),  # a relation neither pair has an intention of yet
    ]
    first = {c[1]: run(*c, "--json") for c in commands}
    category = estore.run("MATCH (p:Product) WHERE p.category IS NOT NULL RETURN p.category AS c, count(*) AS n ORDER BY n DESC, c LIMIT 1")[0]["c"]
    commands.append(("generate", "scripts", "--from", "categories", "--category", category, "--per-source", "1", "--intentions", "0"))
    first["scripts"] = run(*commands[-1], "--format", "json")  # and --json, the old spelling, above
    counts = {k: _stage_counts(v) for k, v in first.items()}
    assert all(v["output"] == "auto" for v in first.values())  # the server took every response_format
    attrs = counts["attributes"][0]
    assert attrs[1] == 6 and attrs[2] >= 5, counts  # the six products the sessions viewed

    # the trees: 1 root, 2 children, then 1 each (width 2 until step 2), every field set
    trees = counts["trees"][0]
    assert trees[1] == 2 and trees[2] >= 1, counts
    done = estore.run("MATCH (s:Session) WHERE s.tree_nodes IS NOT NULL RETURN s.id AS id, s.tree_nodes AS n")
    assert len(done) == trees[2] and all(d["n"] == 1 + 2 + 2 for d in done)
    for d in done:
        nodes = estore.run(
            """MATCH (s:Session {id: $s})-[:ROOT]->(:Intention)-[:BRANCH*0..]->(n:Intention)
                              OPTIONAL MATCH (n)-[:VALUES]->(a:Attribute) OPTIONAL MATCH (n)-[:AT]->(p:Product)
                              RETURN n.step AS step, n.text AS text, n.rationale AS rationale, n.comparison AS comparison,
                                     a.name AS attr, p.id AS product""",
            {"s": d["id"]},
        )
        assert sorted(n["step"] for n in nodes) == [1, 2, 2, 3, 3]
        for n in nodes:
            assert n["text"] and n["rationale"] and n["attr"] and n["product"], n
            assert bool(n["comparison"]) == (n["step"] > 1), n
    sample = estore.run("""MATCH (s:Session)-[:ROOT]->(r:Intention)-[:BRANCH]->(c:Intention)
                           RETURN r.text AS root, c.text AS child, c.rationale AS rationale, c.comparison AS comparison LIMIT 1""")
    print("sample tree node:", json.dumps(sample, ensure_ascii=False))

    # MIND on two pairs, one relation: features, one intention per pair, the filter's verdicts
    _features, intents, filt = counts["mind"]
    assert intents[1] == 2 and intents[2] >= 1 and filt[1] == intents[2], counts  # a working run writes (0 passed before)
    judged = estore.run("MATCH (i:Intention {kind: 'cobuy'}) WHERE i.model = 'SmolLM2-135M-Instruct' RETURN i.text AS text, i.accepted AS accepted")
    assert len(judged) == intents[2] and all(j["text"] and j["accepted"] is not None for j in judged)
    # scripts from one category: objectives, then the steps, linked in order
    scripts = counts["scripts"][0]
    assert scripts[1] == 1 and scripts[2] == 1, counts
    steps = estore.run("MATCH (c:Script)-[:HAS_STEP]->(s:Step) WHERE c.source_id STARTS WITH 'category:' RETURN c.id AS c, count(s) AS n")
    assert len(steps) == scripts[2] and all(r["n"] >= 2 for r in steps)

    # tasks from the trees, answered by the model (letters constrained to each item's options), scored
    tasks = tmp_path / "sib.jsonl"
    exported = run("tasks", "export", "-b", "sib", "-o", str(tasks), "--json")
    assert exported["written"] > 0
    results = tmp_path / "sib.results.jsonl"
    report = run("eval", "run", str(tasks), "--limit", "12", "-o", str(results), "--format", "json")
    assert report["read"] == report["answered"] + report["rejected"] and report["answered"] == min(12, exported["written"])
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    for r in rows:  # an answer is one of the item's letters, read from the JSON reply; an unusable reply has none
        assert r["prediction"] in r["options"] if "error" not in r else r["prediction"] is None, r
    errors = sum("error" in r for r in rows)
    assert report["invalid"] == sum(r["prediction"] is None for r in rows) == errors
    score = run("eval", "score", str(results), "--format", "json")
    assert score["read"] == score["scored"] + score["rejected"] + score["unlabelled"] and sum(t["items"] for t in score["tasks"]) == score["scored"]

    # a re-run: only what was rejected is asked again (nothing, when nothing was)
    for c in commands:
        again = run(*c, "--json")
        rejected_before = [s[3] for s in counts[c[1]]]
        assert [s["items"] for s in again["stages"]] == rejected_before or not any(rejected_before), (c, again["stages"])
        if not any(rejected_before):
            assert again["total"]["calls"] == 0, (c, again["total"])
    again = run("eval", "run", str(tasks), "--limit", "12", "-o", str(tmp_path / "again.jsonl"), "--format", "json")
    assert again["calls"] == errors and again["cache_hits"] == report["answered"] - errors  # only the unusable are asked again
