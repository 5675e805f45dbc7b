"""`annotations import`: majority labels, agreement counts, the one-sided annotator filter."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.evaluation.annotations import import_annotations
from intentkb.evaluation.score import score_file

VOTES = {  # (task, item): answers of w1, w2, w3
    ("sib-t1", "i1"): "ABA",  # 3 positive: positive 3:0
    ("sib-t1", "i2"): "ACD",  # negative 2:1
    ("sib-t1", "i3"): "CDB",  # negative 2:1
    ("sib-t1", "i4"): "DDC",  # negative 3:0
    ("sib-t4", "j1"): "ABA",  # T4: only A is positive -> positive 2:1
    ("sib-t4", "j2"): "BCB",  # negative 3:0
}


def write_answers(path):
    rows = []
    for (task, item), letters in VOTES.items():
        rows += [{"id": item, "task": task, "WorkerId": f"w{k + 1}", "answer": a} for k, a in enumerate(letters)]
    # w4 answers A everywhere (10 answers, 100 % positive): left out
    rows += [{"id": item, "task": task, "WorkerId": "w4", "answer": "A"} for (task, item) in VOTES]
    rows += [{"id": f"k{n}", "task": "sib-t1", "WorkerId": "w4", "answer": "A"} for n in range(4)]
    rows += [
        {"id": "i1", "task": "sib-t1", "WorkerId": "w5", "answer": "E"},  # not on the scale
        {"id": "i1", "task": "sib-t1", "WorkerId": "w1", "answer": "B"},
    ]  # w1 answered i1 already
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "task", "WorkerId", "answer"])
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def test_majority_agreement_and_one_sided_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("INTENTKB_HOME", str(tmp_path / "kb"))
    src = tmp_path / "answers.csv"
    n = write_answers(src)
    gold = tmp_path / "gold.jsonl"
    r = import_annotations(src, output=gold)
    assert (r.read, r.loaded, r.rejected) == (n, n - 2, 2) == (30, 28, 2)
    rejects = [json.loads(x) for x in (tmp_path / "kb" / "rejects" / "answers.csv.annotations.rejects.jsonl").read_text().splitlines()]
    assert [x["line"] for x in rejects] == [30, 31] and "letter A-D" in rejects[0]["reason"] and "twice" in rejects[1]["reason"]
    w4 = next(a for a in r.annotators if a.annotator == "w4")
    assert w4.excluded and w4.positive_share == 1.0 and w4.answers == 10
    assert not any(a.excluded for a in r.annotators if a.annotator != "w4")  # 6 answers each: too few to judge
    t1, t4 = r.tasks
    assert (t1.items, t1.labelled, t1.agree_3_0, t1.agree_2_1, t1.positive, t1.negative) == (4, 4, 2, 2, 1, 3)
    assert (t4.items, t4.agree_3_0, t4.agree_2_1, t4.positive, t4.negative) == (2, 1, 1, 1, 1)
    labels = {(x["task"], x["id"]): x for x in map(json.loads, gold.read_text().splitlines())}
    assert labels[("sib-t1", "i1")]["label"] == "positive" and labels[("sib-t1", "i1")]["agreement"] == "3:0"
    assert labels[("sib-t4", "j1")]["label"] == "positive" and labels[("sib-t4", "j1")]["answers"] == {"A": 2, "B": 1}

    # the gold labels score model answers as the paper does: a "Maybe yes" (B) on a positive item is right
    preds = {"i1": "B", "i2": "A", "i3": "D", "i4": "C", "j1": "A", "j2": "A"}
    res = tmp_path / "results.jsonl"
    res.write_text(
        "".join(
            json.dumps({"id": x["id"], "task": x["task"], "label": x["label"], "prediction": preds[x["id"]], "positive": x["positive"]}) + "\n"
            for x in labels.values()
        )
    )
    s = {t.task: t for t in score_file(res).tasks}
    assert s["sib-t1"].accuracy.correct == 3 and s["sib-t4"].accuracy.correct == 1


def test_cli(tmp_path):
    src = tmp_path / "answers.csv"
    write_answers(src)
    out = CliRunner().invoke(cli, ["annotations", "import", str(src), "-o", str(tmp_path / "g.jsonl")])
    assert out.exit_code == 0, out.output
    assert "1 left out as one-sided: w4 (100% positive of 10)" in out.output
    assert "read 30 = loaded 28 + rejected 2" in out.output
