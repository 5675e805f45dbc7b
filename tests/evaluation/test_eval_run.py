"""`eval run` through the scripted OpenAI-wire server: answers parsed, scored and cached, in
lines and JSON, and product images sent to vision models."""

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

from ..conftest import TEST_API_KEY

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
