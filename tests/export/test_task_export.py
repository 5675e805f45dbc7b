"""Task export: seeded grouped splits, the JSONL/CSV/SFT/lm-eval files, labels from annotations,
the CLI on the demo knowledge base, and one-line errors for bad paths and empty exports."""

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


def test_a_benchmarks_own_flags_come_from_its_options_model(demo_kb, tmp_path):
    """`tasks export` names no benchmark: --mode, --negatives and --band are the fields of the sib,
    esb and iqa options models, and one given to the wrong benchmark is refused, in Python too."""
    from intentkb.errors import IntentKBError

    text = CliRunner().invoke(cli, ["tasks", "export", "--help"], terminal_width=200).output
    assert "sib: ask at the end of each trajectory" in text and "esb: broken copies" in text and "iqa: cosine similarity band" in text
    res = CliRunner().invoke(cli, ["tasks", "export", "-b", "esb", "--band", "0.1,0.2", "-o", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "--band is an option of iqa, not of esb" in res.output
    with pytest.raises(IntentKBError, match="esb has no option band"):
        export_tasks(demo_kb[0], demo_kb[1], ExportOptions(benchmark="esb", band=(0.1, 0.2), output=tmp_path / "y.jsonl"))
    rep = _export(demo_kb[0], demo_kb[1], tmp_path, benchmark="iqa", band=(0.2, 0.9), name="iqa.jsonl")
    assert rep.options == {"band": (0.2, 0.9)} and "iqa tasks (band (0.2, 0.9))" in rep.lines()[0]
