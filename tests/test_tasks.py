"""Benchmark tasks from the demo knowledge base (real catalogue, MIND co-buy records, scripts and
trees): counts against the graph's trajectories, item content against the paths, negatives and
distractors against the graph and the embeddings, splits, export formats, prompts, answer parsing,
`eval run` through the scripted OpenAI-wire server, and the HTML session view."""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.config import Settings
from intentkb.demo import DEMO_FILES, data_path
from intentkb.evaluation.run import evaluate
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.queries import session_tree
from intentkb.prompts.templates import Prompts
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.embeddings import DEFAULT_MODEL, Embedder, EmbeddingCache, embedding_text
from intentkb.retrieval.retrieve import Retriever
from intentkb.tasks.esb import esb_items
from intentkb.tasks.iqa import iqa_items, shown_intention
from intentkb.tasks.items import TaskItem
from intentkb.tasks.registry import all_tasks
from intentkb.tasks.render import STYLES, parse_answer, render
from intentkb.tasks.sib import sib_items
from intentkb.tasks.split import split_of
from intentkb.tasks.stats import BuildStats
from intentkb.views.session import session_html

from .conftest import TEST_API_KEY

SIB = list(all_tasks()["sib"])


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Embedder:
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "embeddings.sqlite"))


@pytest.fixture(scope="module")
def demo_kb(server_dir: Path, embedder: Embedder, tmp_path_factory):
    """The demo knowledge base, indexed and aligned, in a graph of its own for this module."""
    settings = Settings(data_dir=server_dir, graph_uri="embedded", graph_name=f"t{uuid.uuid4().hex[:12]}")
    rejects = tmp_path_factory.mktemp("rejects")
    store = open_store(settings)
    for kind, name, fmt in DEMO_FILES:
        assert ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=rejects / name).rejected == 0
    build_indexes(store, settings, embedder=embedder)
    align_steps(store, settings, embedder=embedder)
    yield store, settings
    store.db.connection.delete(store.graph.name)
    store.close()


@pytest.fixture(scope="module")
def neighbours(demo_kb, embedder) -> Retriever:
    return Retriever(demo_kb[0], demo_kb[1], embedder=embedder, hybrid=False)


def _trees(store):
    sessions = [r["id"] for r in store.run("MATCH (s:Session) RETURN s.id AS id ORDER BY id")]
    return {s: session_tree(store, s) for s in sessions}


# -- SessionIntentBench ------------------------------------------------------------------------------


def test_sib_counts_follow_the_trajectories(demo_kb):
    store, _ = demo_kb
    trees = _trees(store)
    n_traj = store.run("MATCH (s:Session)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(l:Intention) WHERE NOT (l)-[:BRANCH]->() RETURN count(*) AS n")[0]["n"]
    leaves = [(g, n) for g in trees.values() for n in g.nodes if g.out_degree(n) == 0]
    inner = [(g, n) for g in trees.values() for n in g.nodes if g.out_degree(n) > 0]
    assert n_traj == len(leaves) == 12

    stats = BuildStats()
    end = list(sib_items(store, SIB, "end", stats=stats))
    c = Counter(i["task"] for i in end)
    assert stats.trajectories == n_traj
    assert c["sib-t4"] == n_traj  # one T4 per trajectory, at its last step
    assert c["sib-t3"] == sum(1 for g, n in leaves if g.nodes[n]["step"] >= 2 and g.nodes[n]["comparison"])
    parents = {next(iter(g.predecessors(n))) for g, n in leaves if g.nodes[n]["step"] >= 2}
    assert c["sib-t1"] == c["sib-t2"] == len(parents)  # siblings' last steps pose one T1/T2 question
    assert stats.repeats == 2 * (sum(1 for g, n in leaves if g.nodes[n]["step"] >= 2) - len(parents))

    every = list(sib_items(store, SIB, "every"))
    c = Counter(i["task"] for i in every)
    nodes = [(g, n) for g in trees.values() for n in g.nodes]
    assert c["sib-t4"] == len(nodes)
    assert c["sib-t1"] == c["sib-t2"] == len(inner)
    assert c["sib-t3"] == sum(1 for g, n in nodes if g.nodes[n]["step"] >= 2)
    ids = [i["id"] for i in every]
    assert len(ids) == len(set(ids)) and {i["id"] for i in end} <= set(ids)
    for item in every:
        TaskItem.model_validate(item)
        assert item["label"] is None and item["provenance"]["query"] == "trajectories"
        assert item["positive"] == (["A"] if item["task"] == "sib-t4" else ["A", "B"])
        assert list(item["options"]) == (list("ABC") if item["task"] == "sib-t4" else list("ABCD"))


def test_sib_items_show_what_the_path_says(demo_kb):
    store, _ = demo_kb
    details = {s["leaf"]: s["steps"] for s in store.run("trajectory_details", {"session": "demo-skate"})}
    items = {i["id"]: i for i in sib_items(store, SIB, "end", sessions=["demo-skate"])}
    for steps in details.values():
        t, last, prev = len(steps), steps[-1], steps[-2]
        t1, t2, t3, t4 = (items[f"sib-t{k}:{prev['id'] if k <= 2 else last['id']}"] for k in (1, 2, 3, 4))
        assert [p["id"] for p in t1["inputs"]["history"]] == [s["product"] for s in steps[:-1]]
        assert t1["inputs"]["product"]["id"] == last["product"] and t1["inputs"]["intention"] == prev["text"]
        assert t1["inputs"]["history"][0]["title"] == steps[0]["product_title"]
        assert t2["inputs"]["attribute"] == prev["attribute"] and t2["inputs"]["attribute_product"]["id"] == prev["product"]
        assert t3["inputs"]["comparison"]["text"] == last["comparison"] and t3["inputs"]["previous_intention"] == prev["text"]
        assert t3["inputs"]["intention"] == last["text"] and len(t3["inputs"]["history"]) == t
        assert t4["inputs"]["intention"] == last["text"] and [p["id"] for p in t4["inputs"]["history"]] == [s["product"] for s in steps]
        assert prev["id"] in t1["provenance"]["nodes"] and last["product"] in t1["provenance"]["nodes"]


def test_sib_and_esb_builders_on_every_store(store, tmp_path):
    """The task queries in the dialect shared by FalkorDB and Neo4j (the latter when NEO4J_URI is set)."""
    for kind, name, fmt in DEMO_FILES:
        if kind in ("products", "trees", "scripts"):
            assert ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / name).rejected == 0
    trees = _trees(store)
    leaves = sum(1 for g in trees.values() for n in g.nodes if g.out_degree(n) == 0)
    every = Counter(i["task"] for i in sib_items(store, SIB, "every"))
    assert every["sib-t4"] == sum(g.number_of_nodes() for g in trees.values())
    assert Counter(i["task"] for i in sib_items(store, SIB, "end"))["sib-t4"] == leaves
    t1 = list(esb_items(store, None, ["esb-t1"]))
    n_scripts = store.run("MATCH (c:Script) RETURN count(c) AS n")[0]["n"]
    assert Counter(i["label"] for i in t1) == {"A": n_scripts, "B": n_scripts}


# -- EcomScriptBench ---------------------------------------------------------------------------------


def test_esb_negatives_and_hard_negatives(demo_kb, neighbours):
    store, settings = demo_kb
    stats = BuildStats()
    items = list(esb_items(store, settings, list(all_tasks()["esb"]), neighbours=neighbours, stats=stats))
    scripts = {
        r["id"]: [s["text"] for s in sorted(r["steps"], key=lambda s: s["idx"])] for r in store.run("task_esb_scripts_page", {"after": "", "limit": 100})
    }
    t1 = [i for i in items if i["task"] == "esb-t1"]
    assert Counter(i["label"] for i in t1) == {"A": len(scripts), "B": len(scripts)}
    all_steps = {t for ts in scripts.values() for t in ts}
    for item in t1:
        own, shown = scripts[item["group"]], item["inputs"]["steps"]
        if item["label"] == "A":
            assert shown == own
            continue
        assert shown != own and len(shown) == len(own)
        kind = item["provenance"]["negative"]
        if kind in ("swap", "shuffle"):
            assert sorted(shown) == sorted(own)
        else:  # one step from another script
            diff = [k for k, (a, b) in enumerate(zip(shown, own)) if a != b]
            assert len(diff) == 1 and shown[diff[0]] in all_steps - set(own)

    aligned = {
        (r["step"], r["product"])
        for r in store.run("MATCH (s:Step)-[:ALIGNED]->(:Intention)-[:EXPLAINS|AT]->(p:Product) RETURN DISTINCT s.id AS step, p.id AS product")
    }
    script_products = {}
    for r in store.run(
        "MATCH (c:Script)-[:HAS_STEP]->(s:Step)-[:ALIGNED]->(:Intention)-[:EXPLAINS|AT]->(p:Product) RETURN c.id AS c, collect(DISTINCT p.id) AS ps"
    ):
        script_products[r["c"]] = set(r["ps"])
    t2 = [i for i in items if i["task"] == "esb-t2"]
    n_aligned_steps = store.run("MATCH (s:Step)-[:ALIGNED]->() RETURN count(DISTINCT s) AS n")[0]["n"]
    no_negative = stats.skipped.get("esb-t2: aligned step without an unaligned near product", 0)
    assert Counter(i["label"] for i in t2) == {"A": n_aligned_steps - no_negative, "B": n_aligned_steps - no_negative}
    assert n_aligned_steps - no_negative > 5
    for item in t2:
        step, product = item["provenance"]["nodes"][1], item["inputs"]["product"]["id"]
        if item["label"] == "A":
            assert (step, product) in aligned
        else:  # similar text, but no alignment from any step of the script
            assert product not in script_products[item["group"]] and item["provenance"]["score"] > 0
    t3 = [i for i in items if i["task"] == "esb-t3"]
    assert t3 and Counter(i["label"] for i in t3)["A"] == Counter(i["label"] for i in t3)["B"]
    for pos in (i for i in t3 if i["label"] == "A"):
        neg = next(i for i in t3 if i["label"] == "B" and i["group"] == pos["group"])
        changed = [a for a, b in zip(pos["inputs"]["steps"], neg["inputs"]["steps"]) if a != b]
        assert len(changed) == 1 and changed[0]["product"]["id"] in script_products[pos["group"]]
    # deterministic for a seed
    again = list(esb_items(store, settings, list(all_tasks()["esb"]), neighbours=neighbours))
    assert [i["id"] for i in again] == [i["id"] for i in items]


# -- IntentionQA-style -------------------------------------------------------------------------------


def test_iqa_distractors_lie_in_the_band(demo_kb, neighbours, embedder):
    store, settings = demo_kb
    band = (0.3, 0.8)
    stats = BuildStats()
    items = list(iqa_items(store, settings, list(all_tasks()["iqa"]), band=band, neighbours=neighbours, stats=stats))
    kept = store.run("MATCH (i:Intention {kind: 'cobuy'}) WHERE i.accepted IS NULL OR i.accepted <> false RETURN count(i) AS n")[0]["n"]
    c = Counter(i["task"] for i in items)
    skipped = {t: sum(n for k, n in stats.skipped.items() if k.startswith(t) and "band" in k) for t in all_tasks()["iqa"]}
    assert c["iqa-t1"] + skipped["iqa-t1"] == kept and c["iqa-t2"] + skipped["iqa-t2"] == kept and c["iqa-t1"] > 20
    for item in items:
        TaskItem.model_validate(item)
        q = store.run("MATCH (i:Intention {id: $i}) RETURN i.text AS text, i.assertion AS assertion", {"i": item["provenance"]["nodes"][0]})[0]
        opts, label = item["options"], item["label"]
        assert list(opts) == list("ABCD") and len(set(opts.values())) == 4
        a, b = item["provenance"]["nodes"][1:]
        titles = {r["id"]: r["title"] for r in store.run("MATCH (p:Product) WHERE p.id IN $ids RETURN p.id AS id, p.title AS title", {"ids": [a, b]})}
        shown = shown_intention(q["text"], q["assertion"], list(titles.values()))
        # the intention never names the pair's products (MIND's texts do after their first sentence)
        assert " ".join(titles[b].casefold().split()[:3]) not in shown.casefold()
        if item["task"] == "iqa-t1":
            assert opts[label] == shown
            ids = [item["provenance"]["option_nodes"][k] for k in "ABCD" if k != label]
            texts = {r["id"]: r["text"] for r in store.run("MATCH (i:Intention) WHERE i.id IN $ids RETURN i.id AS id, i.text AS text", {"ids": ids})}
            vecs = embedder.encode([embedding_text(t) for t in [q["text"], *(texts[i] for i in ids)]])
            sims = vecs[1:] @ vecs[0]
            assert np.all(sims >= band[0] - 1e-4) and np.all(sims <= band[1] + 1e-4)
        else:
            assert item["inputs"]["intention"] == shown
            assert item["provenance"]["option_nodes"][label] == b
            others = {v for k, v in item["provenance"]["option_nodes"].items() if k != label}
            cobought = {r["q"] for r in store.run("MATCH (p:Product {id: $a})-[:CO_BOUGHT]-(q:Product) RETURN q.id AS q", {"a": a})}
            assert not others & (cobought | {a, b})
    labels = Counter(i["label"] for i in items)
    assert len(labels) == 4  # shuffled: the answer is not always in one place
    other_seed = list(iqa_items(store, settings, ["iqa-t1"], seed=1, neighbours=neighbours))
    assert [i["id"] for i in other_seed] == [i["id"] for i in items if i["task"] == "iqa-t1"]
    assert [i["label"] for i in other_seed] != [i["label"] for i in items if i["task"] == "iqa-t1"]


def test_shown_intention_leaves_the_product_names_out():
    text = (
        "The potential co-buy intention for these two products could be that they are both used for communication "
        "purposes. The BTECH QHM22 Platinum Series Shoulder Speaker Mic is designed to endure rain."
    )
    assert shown_intention(text, None, ["BTECH QHM22 Platinum Series Shoulder Speaker Mic"]) == "they are both used for communication purposes."
    named = "The potential co-buy intention could be to pair the BTECH QHM22 Platinum mic with a radio."
    assertion = "PersonX bought a product of Item A and a product of Item B because they are used for two-way radios."
    assert shown_intention(named, assertion, ["BTECH QHM22 Platinum Series"]) == "they are used for two-way radios."
    both = (
        "The potential co-buy intention could be that the person wants both the Gothic Bat Cameo Necklace and the "
        "gothic bat cameo pendant as a set. They match."
    )
    assert (
        shown_intention(both, None, ["Gothic Bat Cameo Necklace", "Gothic Bat Cameo Pendant"])
        == "the person wants both the product A and the product B as a set."
    )
    assert shown_intention("Keeps the kids busy on trips.", None, ["Crayola crayons"]) == "Keeps the kids busy on trips."


# -- prompts and answers -----------------------------------------------------------------------------


def test_every_task_renders_in_every_style_and_templates_can_be_replaced(demo_kb, neighbours, tmp_path):
    store, settings = demo_kb
    prompts = Prompts()
    samples = [next(sib_items(store, [t], "end")) for t in all_tasks()["sib"]]
    samples += [next(esb_items(store, settings, [t], neighbours=neighbours)) for t in all_tasks()["esb"]]
    samples += [next(iqa_items(store, settings, [t], neighbours=neighbours)) for t in all_tasks()["iqa"]]
    for item in samples:
        texts = {s: render(prompts, item, s)[-1]["content"] for s in STYLES}
        assert len(set(texts.values())) == 3
        assert "last line" in texts["cot"] and "Examples" in texts["few"] and texts["few"].endswith("Answer:")
        assert "letter only" in texts["zero"]
        for k, v in item["options"].items():
            if item["benchmark"] == "iqa":
                assert f"{k}. {v}" in texts["zero"]
            else:
                assert f"{k}. " in texts["zero"]
    sib_t1 = samples[0]
    assert sib_t1["inputs"]["intention"] in render(prompts, sib_t1, "zero")[-1]["content"]
    (tmp_path / "task_sib_t1.txt").write_text("version: 9\n--- user\nMY OWN {{ intention }} [{{ style }}]\n")
    mine = render(Prompts(tmp_path), sib_t1, "cot")[-1]["content"]
    assert mine == f"MY OWN {sib_t1['inputs']['intention']} [cot]"


@pytest.mark.parametrize(
    "reply,style,expected",
    [
        ("B", "zero", "B"),
        ("(C)", "zero", "C"),
        ("b) maybe", "zero", "B"),
        ("**Answer: D**", "zero", "D"),
        ("B. Maybe yes", "few", "B"),
        ("Maybe no", "zero", "C"),
        ("I think so.\nThe answer is A.", "zero", "A"),
        ("A customer like this would buy it.", "zero", None),
        ("E", "zero", None),
        ("", "zero", None),
        ("The intention fits.\nB", "cot", "B"),
        ("Reasoning.\nFinal answer: C", "cot", "C"),
        ("B\nbecause the product fits", "cot", None),
        ("I cannot decide.", "cot", None),
    ],
)
def test_answer_parsing(reply, style, expected):
    assert parse_answer(reply, {"A": "Yes", "B": "Maybe yes", "C": "Maybe no", "D": "No"}, style) == expected


# -- export ------------------------------------------------------------------------------------------


def test_split_is_seeded_grouped_and_four_to_one():
    groups = [f"session-{i}" for i in range(20_000)]
    splits = [split_of(g, 0, 0.2) for g in groups]
    assert abs(splits.count("test") / len(groups) - 0.2) < 0.01
    assert splits == [split_of(g, 0, 0.2) for g in groups]
    assert splits != [split_of(g, 1, 0.2) for g in groups]


def _export(store, settings, tmp_path, **kw):
    opts = ExportOptions(output=tmp_path / kw.pop("name", "out.jsonl"), **kw)
    return export_tasks(store, settings, opts)


def test_jsonl_and_csv_exports(demo_kb, tmp_path):
    store, settings = demo_kb
    rep = _export(store, settings, tmp_path, benchmark="sib", mode="every", style="cot")
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rep.written == len(rows) == rep.items == sum(sum(c.values()) for c in rep.by_task.values())
    by_group: dict[str, set[str]] = {}
    for r in rows:
        TaskItem.model_validate(r)
        by_group.setdefault(r["group"], set()).add(r["split"])
        assert r["style"] == "cot" and "last line" in r["prompt"]
    assert all(len(s) == 1 for s in by_group.values())  # a session never straddles the split
    again = _export(store, settings, tmp_path, benchmark="sib", mode="every", style="cot", name="again.jsonl")
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "out.jsonl").read_text() and again.written == rep.written

    rep = _export(store, settings, tmp_path, benchmark="sib", fmt="csv", name="sheet.csv")
    with open(tmp_path / "sheet.csv", newline="") as fh:
        sheet = list(csv.DictReader(fh))
    assert len(sheet) == rep.written and set(sheet[0]) >= {"id", "task", "question", "options", "annotator", "answer"}
    assert sheet[0]["options"].startswith("A. ")
    # three annotators fill copies of the sheet; concatenated, they are what `annotations import` reads
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sheet[0]))
        w.writeheader()
        for k, who in enumerate(("ann1", "ann2", "ann3")):
            w.writerows(dict(r, annotator=who, answer="AB"[(k + n) % 2]) for n, r in enumerate(sheet))
    r = CliRunner().invoke(cli, ["annotations", "import", str(filled), "-o", str(tmp_path / "gold.jsonl"), "--format", "json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["loaded"] == 3 * len(sheet) and sum(t["items"] for t in report["tasks"]) == len(sheet)


def test_labels_from_annotations_reach_the_sft_and_lm_eval_files(demo_kb, tmp_path):
    store, settings = demo_kb
    items = list(sib_items(store, SIB, "end"))
    # three annotators answer every item; the majority side becomes the gold label
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "task", "annotator", "answer"])
        for k, it in enumerate(items):
            for a, ans in zip("xyz", ("A", "B", "D") if k % 2 else ("D", "C", "A")):
                w.writerow([it["id"], it["task"], a, ans if it["task"] != "sib-t4" else {"D": "C"}.get(ans, ans)])
    gold = tmp_path / "gold.jsonl"
    r = CliRunner().invoke(cli, ["annotations", "import", str(answers), "-o", str(gold), "--min-answers", "1000"])
    assert r.exit_code == 0, r.output
    sft = tmp_path / "sft"
    rep = export_tasks(store, settings, ExportOptions(benchmark="sib", fmt="alpaca", style="zero", output=sft, labels=gold))
    assert rep.labels_attached == len(items) and rep.written == len(items)
    info = json.loads((sft / "dataset_info.json").read_text())
    rows = [json.loads(x) for f in info.values() for x in (sft / f["file_name"]).read_text().splitlines()]
    assert len(rows) == len(items) and all(set(f["columns"].values()) <= set(rows[0]) for f in info.values())
    by_id = {it["id"]: k for k, it in enumerate(items)}
    for row in rows:
        k = by_id[row["id"]]
        # the majority side's most chosen letter (ties: the first): odd items answered A, B, D
        # (T4: A, B, C -> negative), even ones D, C, A (T4: C, C, A)
        t4 = row["task"] == "sib-t4"
        expected = ("B" if t4 else "A") if k % 2 else "C"
        assert row["output"] == expected and row["instruction"].endswith("(A, B, C or D).") == (row["task"] != "sib-t4")

    unlabelled = export_tasks(store, settings, ExportOptions(benchmark="sib", fmt="sharegpt", output=tmp_path / "sg"))
    assert unlabelled.written == 0 and unlabelled.unlabelled_left_out == len(items)

    lm = tmp_path / "lm"
    rep = export_tasks(store, settings, ExportOptions(benchmark="sib", fmt="lm-eval", output=lm, labels=gold))
    for task in SIB:
        cfg = yaml.safe_load((lm / f"{task.replace('-', '_')}.yaml").read_text())
        assert cfg["output_type"] == "multiple_choice" and cfg["doc_to_target"] == "gold"
        for _split, path in cfg["dataset_kwargs"]["data_files"].items():
            docs = [json.loads(x) for x in Path(path).read_text().splitlines()]
            assert docs and all(d["choices"][d["gold"]] in "ABCD" for d in docs)


def test_cli_exports_every_task_type_from_the_demo_kb(demo_kb, tmp_path, monkeypatch):
    _store, settings = demo_kb
    monkeypatch.setenv("INTENTKB_GRAPH", settings.graph_name)
    runner = CliRunner()
    seen = set()
    for bench in ("sib", "esb", "iqa"):
        out = tmp_path / f"{bench}.jsonl"
        r = runner.invoke(cli, ["--data-dir", str(settings.data_dir), "tasks", "export", "-b", bench, "-o", str(out), "--json"])
        assert r.exit_code == 0, r.output
        report = json.loads(r.output)
        seen |= {t for t, c in report["by_task"].items() if sum(c.values())}
    assert seen == {t for ts in all_tasks().values() for t in ts}


# -- evaluation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["lines", "json"])
def test_eval_run_answers_parses_scores_and_caches(demo_kb, neighbours, tmp_path, llm_server, llm_settings, output):
    store, settings = demo_kb
    llm_settings = llm_settings.model_copy(update={"output": output})
    llm_server.record = True
    tasks = tmp_path / "esb.jsonl"
    rep = export_tasks(store, settings, ExportOptions(benchmark="esb", output=tasks))
    with open(tasks, "a") as fh:
        fh.write('{"id": "broken", "benchmark": "esb"}\n')
    for style in ("zero", "cot"):
        out = tmp_path / f"results-{style}.jsonl"
        report = evaluate(tasks, settings, llm_settings, style=style, output=out)
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert report.read == rep.written + 1 and report.answered == rep.written == len(rows) and report.rejected == 1
        assert report.calls == rep.written and report.cache_hits == 0
        for row in rows:
            if output == "lines":
                assert row["prediction"] == parse_answer(row["reply"], {"A": "Yes", "B": "No"}, style)
                if style == "cot" and row["prediction"]:
                    assert row["reply"].splitlines()[-1] == row["prediction"]
            else:  # the letter is constrained to the item's options: never invalid, read from the JSON
                reply = json.loads(row["reply"])
                assert row["prediction"] == reply["answer"] in row["options"] and ("reasoning" in reply) == (style == "cot")
        for request in llm_server.requests[-len(rows) :]:
            fmt = request.get("response_format")
            if output == "lines":
                assert fmt is None
            else:
                props = fmt["json_schema"]["schema"]["properties"]
                assert props["answer"]["enum"] == ["A", "B"] and next(iter(props)) == ("reasoning" if style == "cot" else "answer")
        invalid = sum(r["prediction"] is None for r in rows)
        assert report.invalid == invalid
        correct = Counter(r["task"] for r in rows if r["prediction"] == r["label"])
        for t in report.score.tasks:
            assert t.accuracy.correct == correct[t.task] and t.invalid == sum(r["prediction"] is None for r in rows if r["task"] == t.task)
        assert TEST_API_KEY not in out.read_text()
        record = json.loads(Path(report.run_record).read_text())
        assert record["templates"]["task_esb_t1"]["version"] == "task_esb_t1-v1" and record["report"]["answered"] == rep.written
        assert TEST_API_KEY not in Path(report.run_record).read_text()
    again = evaluate(tasks, settings, llm_settings, style="cot", output=tmp_path / "again.jsonl")
    assert again.calls == 0 and again.cache_hits == rep.written
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "results-cot.jsonl").read_text()
    # the CLI: same answers from the cache, a table of scores
    env = {
        "OPENAI_BASE_URL": llm_server.url,
        "OPENAI_API_KEY": TEST_API_KEY,
        "INTENTKB_LLM_CACHE": str(llm_settings.cache_path),
        "INTENTKB_LLM_MODEL": llm_settings.model,
        "INTENTKB_LLM_MULTIMODAL": "off",
        "INTENTKB_LLM_OUTPUT": output,
    }
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "eval", "run", str(tasks), "--prompt", "cot", "-o", str(tmp_path / "cli.jsonl")], env=env)
    assert r.exit_code == 0, r.output
    assert f"0 calls, {rep.written} cache hits" in r.output and "esb-t2" in r.output and "random acc/F1" in r.output
    assert (tmp_path / "cli.jsonl").read_text() == (tmp_path / "results-cot.jsonl").read_text()


def test_eval_run_sends_product_images_to_vision_models(demo_kb, tmp_path, llm_server, llm_settings):
    store, settings = demo_kb
    tasks = tmp_path / "sib.jsonl"
    export_tasks(store, settings, ExportOptions(benchmark="sib", output=tasks, tasks=[1]))
    items = {json.loads(x)["id"]: json.loads(x) for x in tasks.read_text().splitlines()}
    llm_server.record = True
    evaluate(tasks, settings, llm_settings.model_copy(update={"multimodal": "on"}), output=tmp_path / "r.jsonl")
    assert len(llm_server.requests) == len(items)
    for request in llm_server.requests:
        parts = request["messages"][-1]["content"]
        text = parts[0]["text"]
        item = next(i for i in items.values() if i["inputs"]["intention"] in text and i["inputs"]["product"]["title"] in text)
        urls = [p["image_url"]["url"] for p in parts[1:]]
        shown = [p["image"] for p in [*item["inputs"]["history"], item["inputs"]["product"]] if p.get("image")]
        assert urls == list(dict.fromkeys(shown)) and urls[-1] == item["inputs"]["product"]["image"]
    llm_server.requests.clear()
    evaluate(tasks, settings, llm_settings, output=tmp_path / "r2.jsonl")  # multimodal off: text only
    assert all(isinstance(r["messages"][-1]["content"], str) for r in llm_server.requests)


# -- HTML --------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, str]] = []
        self.products: list[str] = []
        self.product_titles: list[str] = []
        self.titles: list[str] = []
        self.scripts: list[str] = []
        self.box_text: dict[str, str] = {}
        self._in: str | None = None
        self._node: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "button" and "node" in classes:
            self.nodes.append(a)
            self.titles.append(a["title"])
            self._node = a["data-id"]
            self.box_text[self._node] = ""
        if tag == "div" and "product" in classes:
            self.products.append(a["data-pos"])
        if tag == "span" and "ptitle" in classes:
            self._in = "ptitle"
        if tag == "script":
            self._in = tag

    def handle_endtag(self, tag):
        self._in = None
        if tag == "button":
            self._node = None

    def handle_data(self, data):
        if self._node is not None:
            self.box_text[self._node] += data
        if self._in == "ptitle":
            self.product_titles.append(data)
        elif self._in == "script":
            self.scripts.append(data)


def test_session_page_shows_the_whole_tree(demo_kb, tmp_path):
    store, settings = demo_kb
    g = session_tree(store, "demo-skate")
    page = _Page()
    page.feed(session_html(store, "demo-skate"))
    assert {n["data-id"] for n in page.nodes} == set(g.nodes)
    assert len(page.products) == store.run("MATCH (:Session {id: 'demo-skate'})-[:VIEWED]->(p) RETURN count(p) AS n")[0]["n"]
    titles = [r["title"] for r in store.run("session_products", {"session": "demo-skate"})]
    assert page.product_titles == titles  # product titles head the columns, not bare ASINs
    data = json.loads(page.scripts[0])
    for n, d in g.nodes(data=True):
        assert d["text"] in page.box_text[n] and "…" not in page.box_text[n]  # the whole intention, never cut
        assert data[n]["product_title"] in titles
        assert data[n]["parent"] == next(iter(g.predecessors(n)), None)
        assert data[n]["text"] == d["text"] and data[n]["rationale"] == d["rationale"]
        tip = next(t for t in page.titles if t.startswith(f"I{d['step']}: {d['text']}"))
        assert f"values: {d['attribute_name']}: {d['attribute_value']}" in tip
        if d["comparison"]:
            assert d["comparison"] in tip and d["comparison"] in data[n]["comparison"]
    r = CliRunner().invoke(
        cli, ["--data-dir", str(settings.data_dir), "show", "session", "nope", "--html", str(tmp_path / "x.html")], env={"INTENTKB_GRAPH": settings.graph_name}
    )
    assert r.exit_code == 1 and "no intention tree" in r.output


def test_export_paths_and_empty_exports_are_one_line_errors(demo_kb, tmp_path, monkeypatch):
    """Found by a new user: `-o EXISTING_FILE` for a directory format ended in a FileExistsError
    traceback, a second benchmark's SFT export replaced the first's dataset_info.json, a mistyped
    folder was created silently, and an export of 0 items exited 0."""
    _store, settings = demo_kb
    monkeypatch.setenv("INTENTKB_GRAPH", settings.graph_name)
    runner = CliRunner()

    def export(*args: str):
        return runner.invoke(cli, ["--data-dir", str(settings.data_dir), "tasks", "export", *args])

    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    for fmt in ("alpaca", "lm-eval"):
        r = export("-b", "esb", "--output-format", fmt, "-o", str(taken))
        assert r.exit_code == 1 and "is a file" in r.output and "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)
    r = export("-b", "esb", "-o", str(tmp_path / "no" / "such" / "esb.jsonl"))
    assert r.exit_code == 1 and "does not exist" in r.output and not (tmp_path / "no").exists()
    sft = tmp_path / "sft"
    assert export("-b", "esb", "--output-format", "alpaca", "-o", str(sft)).exit_code == 0
    assert export("-b", "iqa", "--output-format", "alpaca", "-o", str(sft)).exit_code == 0
    info = json.loads((sft / "dataset_info.json").read_text())
    assert {"intentkb_esb_train", "intentkb_iqa_train"} <= set(info)  # merged: LLaMA-Factory sees both
    r = runner.invoke(cli, ["--data-dir", str(settings.data_dir), "show", "session", "demo-skate", "--html", str(tmp_path / "no" / "s.html")])
    assert r.exit_code == 1 and "does not exist" in r.output and not (tmp_path / "no").exists()
    r = export("-b", "sib", "--output-format", "sharegpt", "-o", str(tmp_path / "sg"))  # sib items carry no label yet
    assert r.exit_code == 1 and "no items written" in r.output and "no gold label" in r.output
    # the file format is --output-format; --format is the printed report's, and an old spelling says so
    r = export("-b", "esb", "--format", "alpaca", "-o", str(sft))
    assert r.exit_code == 2 and "give it as --output-format alpaca" in r.output, r.output
    r = export("-b", "esb", "-o", str(tmp_path / "esb.jsonl"), "--format", "json")
    assert r.exit_code == 0 and json.loads(r.output)["written"] > 0
