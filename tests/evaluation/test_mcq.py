"""The IntentionQA multiple-choice scorer: format reading, task detection, rejects with line
numbers, the embedding scorer's predictions and accuracy with its Wilson interval."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.evaluation.mcq import MCQuestion, evaluate_mcq
from intentkb.evaluation.metrics import accuracy, wilson
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
from intentkb.retrieval.models import DEFAULT_MODEL

from ..conftest import FIXTURES

MCQ = FIXTURES / "intentionqa_mcq.jsonl"  # 10 task-1 + 10 task-2 questions, options as a letter map
LIST_FORMAT = FIXTURES / "intentionqa_sample.jsonl"  # 8 task-1 questions, options as a list


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Embedder:
    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("mcq") / "embeddings.sqlite"))


def test_wilson_interval_matches_the_closed_form():
    lo, hi = wilson(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # textbook value for 8/10
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    a = accuracy(3, 4)
    assert a.accuracy == 0.75 and a.ci95_low < 0.75 < a.ci95_high
    assert accuracy(0, 0).accuracy is None


def test_tasks_are_detected_from_the_record():
    rows = [json.loads(line) for line in MCQ.read_text().splitlines()]
    tasks = [MCQuestion.model_validate(r).task for r in rows]
    assert tasks == [1] * 10 + [2] * 10
    q = MCQuestion.model_validate(rows[0])
    assert q.query() == f"{rows[0]['item_a_name']} and {rows[0]['item_b_name']}"
    q2 = MCQuestion.model_validate(rows[10])
    assert q2.query().startswith(rows[10]["item_a_name"]) and "PersonX" not in q2.query()


def test_embedding_scorer_on_the_fixture(embedder, tmp_path):
    preds = tmp_path / "preds.jsonl"
    report = evaluate_mcq(MCQ, embedder, predictions_path=preds)
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert report.read == report.scored == 20 and report.rejected == 0
    correct = sum(r["correct"] for r in rows)
    assert report.overall.correct == correct and report.overall.accuracy == round(correct / 20, 4)
    lo, hi = wilson(correct, 20)
    assert (report.overall.ci95_low, report.overall.ci95_high) == (round(lo, 4), round(hi, 4))
    for r in rows:
        assert r["predicted"] == max(r["scores"], key=lambda k: (r["scores"][k], -ord(k)))
        assert r["correct"] == (r["predicted"] == r["gold"])
    # task 2's distractors are unrelated catalogue products: item B's name is nearly always the nearest
    # (9 of 10 with all-MiniLM-L6-v2; the miss picks an FM-radio kit over a phone battery for a stereo receiver)
    assert report.by_task["task2"].correct >= 8
    assert report.by_task["task1"].total == 10
    # every question and option embedded once, in one call; the second run costs no model call
    assert report.texts <= 20 + 80 and report.encoded == report.texts
    assert evaluate_mcq(MCQ, embedder).encoded == 0


def test_list_options_and_bad_lines_are_rejected_with_line_numbers(embedder, tmp_path):
    f = tmp_path / "qa.jsonl"
    shutil.copy(LIST_FORMAT, f)
    good = [json.loads(line) for line in LIST_FORMAT.read_text().splitlines()]
    bad_gold = dict(good[0], id="bad-gold", gold_ind="E")
    no_b = {k: v for k, v in good[1].items() if k != "item_b_name"} | {"id": "no-b"}
    with open(f, "a", encoding="utf-8") as fh:
        fh.write("{not json\n")  # line 9
        fh.write(json.dumps(bad_gold) + "\n")  # line 10
        fh.write(json.dumps(no_b) + "\n")  # line 11
    rejects = tmp_path / "rejects.jsonl"
    report = evaluate_mcq(f, embedder, rejects_path=rejects)
    assert (report.read, report.scored, report.rejected) == (11, 8, 3)
    rej = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rej] == [9, 10, 11]
    assert "invalid JSON" in rej[0]["reason"] and "gold_ind 'E' is not one of the options" in rej[1]["reason"]
    assert "task 1 needs item_b_name" in rej[2]["reason"]
    assert report.by_task["task1"].total == 8


def test_eval_mcq_cli(tmp_path):
    res = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "eval", "mcq", str(MCQ), "--input-format", "intentionqa", "--scorer", "embedding", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # stderr says what --precision auto measured; stdout is the JSON alone
    assert "measuring the encoder modes" in res.stderr and (tmp_path / "models" / "encoder-choice.json").exists()
    assert out["read"] == 20 and out["overall"]["total"] == 20 and set(out["by_task"]) == {"task1", "task2"}
    assert math.isclose(out["overall"]["accuracy"], out["overall"]["correct"] / 20, abs_tol=1e-4)
    res = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "eval", "mcq", str(MCQ)])
    assert res.exit_code == 0 and "accuracy  " in res.output and "95% Wilson interval" in res.output
    assert "measuring" not in res.stderr  # the decision was kept
    res = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "eval", "mcq", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 1 and "no such file" in res.output
