"""Benchmark items from the demo knowledge base (real catalogue, MIND co-buy records, scripts and
trees): counts against the graph's trajectories, item content against the paths, negatives and
distractors against the graph and the embeddings, prompts in every style, answer parsing."""

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
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache, embedding_text
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever
from intentkb.tasks.esb.builder import esb_items
from intentkb.tasks.iqa.builder import iqa_items, shown_intention
from intentkb.tasks.items import TaskItem
from intentkb.tasks.registry import all_tasks
from intentkb.tasks.render import STYLES, parse_answer, render
from intentkb.tasks.sib.builder import sib_items
from intentkb.tasks.split import split_of
from intentkb.tasks.stats import BuildStats
from intentkb.views.session import session_html

SIB = list(all_tasks()["sib"])


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
