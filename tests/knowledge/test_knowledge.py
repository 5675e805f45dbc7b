"""`export knowledge`: documents checked against the graph, leakage control, LLaMA-Factory's parser."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.demo import DEMO_FILES, data_path
from intentkb.export.knowledge import KnowledgeOptions, export_knowledge
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.ingest import ingest_file
from intentkb.io.dataset_info import merge_dataset_info
from intentkb.knowledge.leakage import Exclusion
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_indexes
from intentkb.tasks.split import split_of

from ..retrieval.test_retrieval import shared_embedder


@pytest.fixture
def demo_kb(store, tmp_path, shared_embedder):
    """The demo knowledge base, indexed and aligned: on the embedded store, and on Neo4j when it runs."""
    for kind, name, fmt in DEMO_FILES:
        assert ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=tmp_path / f"{name}.rejects").rejected == 0
    build_indexes(store, store.settings, embedder=shared_embedder)
    align_steps(store, store.settings, embedder=shared_embedder)
    return store


def _cli_env(store) -> dict[str, str]:
    return {"INTENTKB_GRAPH": store.settings.graph_name, "INTENTKB_GRAPH_URI": store.settings.graph_uri}


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _intentions(store, kind: str, accepted_only: bool = True) -> set[str]:
    where = " AND (i.accepted IS NULL OR i.accepted = true)" if accepted_only else ""
    return {r["id"] for r in store.run(f"MATCH (i:Intention) WHERE i.kind = $k{where} AND i.text IS NOT NULL RETURN i.id AS id", {"k": kind})}


def test_documents_hold_every_kept_intention_once(demo_kb, tmp_path):
    store = demo_kb
    out = tmp_path / "lf"
    rep = export_knowledge(store, KnowledgeOptions(fmt="pretrain", output=out, keep_test=True))
    assert not rep.left_out and all(rep.entries[k] > 0 for k in ("cobuy", "purchase", "session", "script")), rep
    rows = _rows(out / "intentkb_knowledge_pt.jsonl")
    said = Counter(i for r in rows for i in r["intentions"])
    for kind in ("cobuy", "purchase"):
        kept = _intentions(store, kind)
        assert {i for i in said if i in _intentions(store, kind, accepted_only=False)} == kept, kind
        assert all(said[i] == 1 for i in kept), kind  # each once
    rejected = _intentions(store, "cobuy", accepted_only=False) - _intentions(store, "cobuy")
    assert rejected and not rejected & set(said)  # the demo MIND file has filter-rejected intentions
    # sessions: one document per trajectory, every tree node on at least one of them
    trajectories = store.run("MATCH p = (s:Session)-[:ROOT]->(:Intention)-[:BRANCH*0..]->(l:Intention) WHERE NOT (l)-[:BRANCH]->() RETURN count(p) AS n")[0][
        "n"
    ]
    assert sum(r["kind"] == "session" for r in rows) == trajectories
    assert _intentions(store, "session") <= set(said)
    # the documents say what the graph says: a pair's titles and its intention's text
    doc = next(r for r in rows if r["kind"] == "cobuy")
    a, b = doc["group"].split("|")
    titles = {t["id"]: t["title"] for t in store.run("MATCH (p:Product) WHERE p.id IN $ids RETURN p.id AS id, p.title AS title", {"ids": [a, b]})}
    assert titles[a] in doc["text"] and titles[b] in doc["text"]
    assert "potential co-buy intention" not in doc["text"] and "PersonX" not in doc["text"]

    # instruction pairs: one per kept intention (cobuy, purchase, session), one per aligned step
    rep = export_knowledge(store, KnowledgeOptions(fmt="alpaca", output=out, keep_test=True))
    rows = _rows(out / "intentkb_knowledge_alpaca.jsonl")
    stated = Counter(r["intention"] for r in rows if r["intention"])
    for kind in ("cobuy", "purchase", "session"):
        assert all(stated[i] == 1 for i in _intentions(store, kind)), kind
    assert len({r["id"] for r in rows}) == len(rows) and all(r["output"] for r in rows)
    # --include-rejected brings the rejected ones in
    export_knowledge(store, KnowledgeOptions(fmt="alpaca", output=out, keep_test=True, include_rejected=True))
    assert rejected <= {r["intention"] for r in _rows(out / "intentkb_knowledge_alpaca.jsonl")}
    # a re-run writes the same bytes; dataset_info.json keeps every entry written into it
    before = (out / "intentkb_knowledge_alpaca.jsonl").read_bytes()
    export_knowledge(store, KnowledgeOptions(fmt="alpaca", output=out, keep_test=True, include_rejected=True))
    assert (out / "intentkb_knowledge_alpaca.jsonl").read_bytes() == before
    info = json.loads((out / "dataset_info.json").read_text())
    assert {"intentkb_knowledge_pt", "intentkb_knowledge_alpaca"} <= set(info)


def test_nothing_of_the_test_split_or_the_excluded_items(demo_kb, tmp_path):
    store = demo_kb
    items = {}
    for bench in ("sib", "esb", "iqa"):
        f = tmp_path / f"{bench}.jsonl"
        export_tasks(store, store.settings, ExportOptions(benchmark=bench, output=f, test_fraction=0.3))
        items[bench] = _rows(f)
        assert items[bench], bench
    test_groups = {i["group"] for rows in items.values() for i in rows if i["split"] == "test"}
    train_groups = {i["group"] for rows in items.values() for i in rows if i["split"] == "train"}
    assert test_groups and train_groups
    for fmt in ("pretrain", "alpaca", "sharegpt"):
        out = tmp_path / fmt
        rep = export_knowledge(store, KnowledgeOptions(fmt=fmt, output=out, test_fraction=0.3))
        rows = _rows(out / f"intentkb_knowledge_{'pt' if fmt == 'pretrain' else fmt}.jsonl")
        groups = {r["group"] for r in rows if r["group"]}
        assert not groups & test_groups and groups & train_groups, fmt
        assert all(split_of(g, 0, 0.3) == "train" for g in groups)
        assert sum(rep.left_out["test split"].values()) > 0
    # --exclude: nothing made of a node the items name (here: the IQA train items)
    named = {n for i in items["iqa"] if i["split"] == "train" for n in i["provenance"]["nodes"]}
    exclude = tmp_path / "exclude.jsonl"
    exclude.write_text((tmp_path / "iqa.jsonl").read_text() + '{"id": "half an item"}\n')
    res = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(store.settings.data_dir),
            "export",
            "knowledge",
            "-o",
            str(tmp_path / "ex"),
            "--output-format",
            "alpaca",
            "--test-fraction",
            "0.3",
            "--exclude",
            str(exclude),
        ],
        env=_cli_env(store),
    )
    assert res.exit_code == 0, res.output
    assert "left out (excluded items)" in res.output and "left out (test split)" in res.output
    assert f"--exclude: {len(items['iqa']):,} items" in res.output and "1 bad lines rejected" in res.output
    reject = json.loads((store.settings.rejects_dir / "exclude.jsonl.exclude.rejects.jsonl").read_text().splitlines()[0])
    assert reject["line"] == len(items["iqa"]) + 1 and reject["reason"]
    rows = _rows(tmp_path / "ex" / "intentkb_knowledge_alpaca.jsonl")
    assert rows and not any(named & set(r["provenance"]["nodes"]) for r in rows)
    assert Exclusion(nodes={"x"}, keep_test=True).reason(types.SimpleNamespace(group="g", nodes=["x"])) == "excluded items"  # type: ignore[arg-type]


def _llamafactory():
    """LLaMA-Factory's dataset parser and converters from its wheel, without its `data` package's
    __init__ (which imports its collators, torchvision and torchaudio: not needed to read files)."""
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or spec.origin is None:
        pytest.skip("llamafactory is not installed (the README's test command installs it --no-deps)")
    if "llamafactory.data" not in sys.modules:
        pkg = types.ModuleType("llamafactory.data")
        pkg.__path__ = [os.path.join(os.path.dirname(spec.origin), "data")]
        sys.modules["llamafactory.data"] = pkg
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import get_dataset_list

    return get_dataset_list, get_dataset_converter


def test_llamafactory_reads_the_pt_alpaca_and_sharegpt_files(demo_kb, tmp_path):
    get_dataset_list, get_dataset_converter = _llamafactory()
    from datasets import load_dataset

    out = tmp_path / "lf"
    out.mkdir()
    merge_dataset_info(out, {"someone_elses": {"file_name": "other.json"}})  # merged into, not overwritten
    counts = {}
    for fmt in ("pretrain", "alpaca", "sharegpt"):
        counts[fmt] = sum(export_knowledge(demo_kb, KnowledgeOptions(fmt=fmt, output=out, keep_test=True)).written.values())
    names = ["intentkb_knowledge_pt", "intentkb_knowledge_alpaca", "intentkb_knowledge_sharegpt"]
    attrs = get_dataset_list(names, str(out))
    assert "someone_elses" in json.loads((out / "dataset_info.json").read_text())
    data_args = SimpleNamespace(media_dir=str(out), dataset_dir=str(out))
    for fmt, attr in zip(("pretrain", "alpaca", "sharegpt"), attrs):
        assert attr.load_from == "file"
        # what its loader does for a local file: the json builder over the file, then the converter
        ds = load_dataset("json", data_files=[str(out / attr.dataset_name)], split="train")
        assert len(ds) == counts[fmt] > 0
        convert = get_dataset_converter(attr.formatting, attr, data_args)
        for example in ds:
            conv = convert(example)
            assert conv["_prompt"] and conv["_prompt"][0]["content"], (fmt, example["id"])
            if fmt == "pretrain":  # the pt stage trains on _prompt[0].content
                assert conv["_prompt"][0]["content"] == example["text"] and conv["_response"] == []
            else:  # a supervised pair: one user turn, one assistant answer (an odd count is "broken data")
                assert [m["role"] for m in conv["_prompt"]] == ["user"] and [m["role"] for m in conv["_response"]] == ["assistant"]
                assert conv["_response"][0]["content"]


def test_inject_shows_nearby_knowledge_but_never_the_items_own_answer(demo_kb, tmp_path, llm_server, llm_settings):
    from intentkb.evaluation.run import evaluate
    from intentkb.knowledge.inject import Injector

    store = demo_kb
    settings = store.settings
    llm_server.record = True
    tasks = tmp_path / "tasks.jsonl"
    with open(tasks, "w") as fh:
        for bench in ("iqa", "esb", "sib"):
            f = tmp_path / f"{bench}.jsonl"
            export_tasks(store, settings, ExportOptions(benchmark=bench, output=f))
            fh.write(f.read_text())
    items = {r["id"]: r for r in _rows(tasks)}
    plain = evaluate(tasks, settings, llm_settings, output=tmp_path / "plain.jsonl")
    assert plain.inject is None and not any("Background knowledge" in json.dumps(q["messages"]) for q in llm_server.requests)
    asked = len(llm_server.requests)
    injector = Injector(store, settings, 3)
    try:
        report = evaluate(tasks, settings, llm_settings, output=tmp_path / "inject.jsonl", context=injector)
    finally:
        injector.close()
    rows = _rows(tmp_path / "inject.jsonl")
    assert report.inject and report.inject["k"] == 3 and report.inject["items"] == len(rows) == len(items)
    assert report.inject["intentions_shown"] == sum(len(r["injected"]) for r in rows) > 0
    assert report.inject["left_out"].get("the item's own nodes", 0) > 0  # the nearest intention is often the answer itself
    record = json.loads(Path(report.run_record).read_text())
    assert record["inject"] == report.inject
    texts = {
        r["id"]: r
        for r in store.run(
            "MATCH (i:Intention) OPTIONAL MATCH (i)-[:EXPLAINS|AT]->(p:Product) OPTIONAL MATCH (i)<-[:BRANCH*0..32]-(:Intention)<-[:ROOT]-(s:Session) "
            "OPTIONAL MATCH (st:Step)-[:ALIGNED]->(i) OPTIONAL MATCH (c:Script)-[:HAS_STEP]->(st) "
            "RETURN i.id AS id, i.text AS text, collect(DISTINCT p.id) AS products, collect(DISTINCT s.id) AS sessions, collect(DISTINCT c.id) AS scripts"
        )
    }
    prompts = {}
    for q in llm_server.requests[asked:]:
        prompts[json.dumps(q["messages"])] = q
    for r in rows:
        item = items[r["id"]]
        assert len(r["injected"]) <= 3
        for g in r["injected"]:
            t = texts[g]
            assert g not in item["provenance"]["nodes"], (item["id"], g)  # never the item's own intention
            assert "|".join(sorted(t["products"])) != item["group"] and item["group"] not in t["sessions"]
            assert item["group"] not in t["scripts"]  # for ESB: nothing aligned to the item's script
            answer = item["options"].get(item["label"]) if item.get("label") else None
            if answer and len(answer) >= 12:
                assert answer.casefold() not in (t["text"] or "").casefold()
    # the prompts carry the block, with the injected texts, before the question
    shown = [p for p in prompts if "Background knowledge" in p]
    assert len(shown) == sum(bool(r["injected"]) for r in rows)
    assert all(json.loads(p)[0]["content"].startswith("Background knowledge") for p in shown)
    # the CLI: the option, the default file name says so, the report says what was injected
    env = {
        "OPENAI_BASE_URL": llm_server.url,
        "OPENAI_API_KEY": "sk-test",
        "INTENTKB_LLM_CACHE": str(llm_settings.cache_path),
        "INTENTKB_LLM_MODEL": llm_settings.model,
        "INTENTKB_LLM_MULTIMODAL": "off",
        **_cli_env(store),
    }
    res = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "eval", "run", str(tasks), "--inject", "3"], env=env)
    assert res.exit_code == 0, res.output
    assert "injected:" in res.output and (tmp_path / "tasks.gpt-4o-mini.zero.inject3.results.jsonl").exists()
    # --split test: the test items alone, the others counted
    test = evaluate(tasks, settings, llm_settings, output=tmp_path / "test.jsonl", split="test")
    n_test = sum(i["split"] == "test" for i in items.values())
    assert test.answered == n_test > 0 and test.other_split == len(items) - n_test and test.read == len(items)
    # side by side: the two runs compared on the same items
    res = CliRunner().invoke(cli, ["eval", "score", str(tmp_path / "plain.jsonl"), str(tmp_path / "inject.jsonl")])
    assert res.exit_code == 0 and "McNemar" in res.output, res.output
