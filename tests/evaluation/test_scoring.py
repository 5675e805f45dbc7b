"""`eval score` against accuracy and macro-F1 computed by hand for tests/fixtures/eval_results.jsonl."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.evaluation.score import macro_f1, score_file

from ..conftest import FIXTURES

RESULTS = FIXTURES / "eval_results.jsonl"


def test_hand_computed_accuracy_and_macro_f1():
    r = score_file(RESULTS, rejects_path=None)
    t1, t4 = r.tasks
    # T1: gold A A B C D A B C A B, predicted A B B A D A - C C B: 6 of 10 right, one invalid.
    # F1 per class: A 2·(2/3·2/4)/(2/3+2/4) = 4/7, B 2/3, C 1/2, D 1 -> macro 0.684524
    assert (t1.task, t1.items, t1.accuracy.correct, t1.invalid) == ("sib-t1", 10, 6, 1)
    assert t1.accuracy.accuracy == 0.6 and t1.macro_f1 == round((4 / 7 + 2 / 3 + 1 / 2 + 1) / 4, 4) == 0.6845
    # majority A (4 of 10): accuracy 0.4, F1 of A = 2·0.4·1/1.4 = 4/7, the others 0
    assert (t1.majority_label, t1.majority.accuracy, t1.majority.macro_f1) == ("A", 0.4, round(4 / 7 / 4, 4))
    # T4: gold A B C B A C, predicted A C C B B "": 3 of 6, one invalid; F1 A 2/3, B 1/2, C 1/2
    assert (t4.accuracy.correct, t4.invalid, t4.classes) == (3, 1, ["A", "B", "C"])
    assert t4.macro_f1 == round((2 / 3 + 1 / 2 + 1 / 2) / 3, 4) == 0.5556
    assert (t4.majority_label, t4.majority.accuracy, t4.majority.macro_f1) == ("A", 0.3333, round(0.5 / 3, 4))
    # the random baseline is near 1/k and the same on every run (seeded)
    assert abs(t1.random.accuracy - 0.25) < 0.03 and abs(t4.random.accuracy - 1 / 3) < 0.04
    assert score_file(RESULTS).tasks[0].random == t1.random
    assert r.overall.accuracy.correct == 9 and r.overall.items == 16


def test_grouped_scoring_as_in_sessionintentbench(tmp_path):
    """T1 with A/B positive: gold P P P N N P P N P P, predicted P P P P N P - N N P: 7 of 10 right;
    positive F1 = 2·(5/6·5/7)/(5/6+5/7) = 10/13, negative F1 = 2/3, macro 0.717949."""
    f = tmp_path / "t1.jsonl"
    rows = [json.loads(x) for x in RESULTS.read_text().splitlines() if '"sib-t1"' in x]
    f.write_text("".join(json.dumps({**r, "positive": ["A", "B"]}) + "\n" for r in rows))
    t = score_file(f).tasks[0]
    assert t.accuracy.correct == 7 and t.classes == ["negative", "positive"]
    assert t.f1_positive == round(10 / 13, 4) and t.macro_f1 == round((10 / 13 + 2 / 3) / 2, 4) == 0.7179
    # majority is positive (7 of 10): accuracy 0.7; predicting nothing positive leaves positive F1 undefined
    assert (t.majority_label, t.majority.accuracy) == ("positive", 0.7)
    g = tmp_path / "neg.jsonl"
    g.write_text("".join(json.dumps({**r, "prediction": "D", "positive": ["A", "B"]}) + "\n" for r in rows))
    assert score_file(g).tasks[0].f1_positive is None


def test_macro_f1_edge_cases():
    assert macro_f1(["A", "B"], ["A", "B"], ["A", "B"]) == 1.0
    assert macro_f1(["A", "A"], [None, None], ["A", "B"]) == 0.0
    assert macro_f1([], [], []) == 0.0


def test_cli_bad_lines_rejected_and_counted(tmp_path):
    f = tmp_path / "r.jsonl"
    bad = ['{"id": "x", "task": "sib-t1", "label": 3}', "not json", json.dumps({"id": "sib-t1-1", "task": "sib-t1", "label": "A", "prediction": "A"})]
    f.write_text(RESULTS.read_text() + "\n".join(bad) + "\n")
    kb = tmp_path / "kb"
    res = CliRunner().invoke(cli, ["--data-dir", str(kb), "eval", "score", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{") :])
    assert (out["read"], out["scored"], out["rejected"], out["unlabelled"]) == (19, 16, 3, 0)
    assert not list(tmp_path.glob("*.rejects.jsonl"))  # under the knowledge base's rejects/, never beside the input
    rejects = [json.loads(x) for x in (kb / "rejects" / "r.jsonl.score.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [17, 18, 19]
    assert "label" in rejects[0]["reason"] and "duplicate id" in rejects[2]["reason"]
    # a file of which no line could be read is a failed run
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n" + bad[0] + "\n")
    res = CliRunner().invoke(cli, ["--data-dir", str(kb), "eval", "score", str(junk)])
    assert res.exit_code == 1 and "every line was rejected (2)" in res.output
    # an item nobody has labelled yet (eval run on unannotated tasks) is read, not scored, not rejected
    f.write_text(RESULTS.read_text() + json.dumps({"id": "new", "task": "sib-t1", "label": None, "prediction": "B"}) + "\n")
    out = json.loads(CliRunner().invoke(cli, ["eval", "score", str(f), "--format", "json"]).output)
    assert (out["read"], out["scored"], out["rejected"], out["unlabelled"]) == (17, 16, 0, 1)
    table = CliRunner().invoke(cli, ["eval", "score", str(RESULTS)])
    assert "0.6845" in table.output and "majority" in table.output


@pytest.mark.parametrize("raw", ['{"id": "a", "task": "t", "label": "A", "options": ["A"]}'])
def test_scale_needs_two_options(tmp_path, raw):
    f = tmp_path / "one.jsonl"
    f.write_text(raw + "\n")
    assert score_file(f).rejected == 1


def test_two_runs_side_by_side_with_mcnemar_by_hand(tmp_path):
    """Eleven shared items of one task, and two items each file has alone. A is right on
    {1, 2, 3, 4, 9}, B on {1, 2, 3, 5, 6, 7, 8, 9, 10, 11}; A's and B's wrong answers alternate
    between a wrong letter and no answer (invalid, also wrong). The options are the map `tasks
    export` writes."""
    from intentkb.evaluation.paired import compare_files, mcnemar_p

    right_a = {1, 2, 3, 4, 9}
    right_b = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11}

    def write(path, right, extra):
        rows = [
            {
                "id": f"q{i}",
                "task": "iqa-t1",
                "label": "A",
                "prediction": "A" if i in right else ("B" if i % 2 else None),
                "options": {"A": "x", "B": "y", "C": "z", "D": "w"},
            }
            for i in range(1, 12)
        ]
        rows += [{"id": f"{extra}{i}", "task": "iqa-t1", "label": "A", "prediction": "A"} for i in range(2)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write(a, right_a, "only-a-")
    write(b, right_b, "only-b-")
    report = compare_files(a, b)
    (t,) = report.tasks
    # discordant: A only {4}; B only {5, 6, 7, 8, 10, 11}: n = 7, exact two-sided p = 2 (C(7,0) + C(7,1)) / 2^7 = 16/128
    assert (t.paired, t.only_in_a, t.only_in_b, t.a_only, t.b_only) == (11, 2, 2, 1, 6)
    assert (t.accuracy_a, t.accuracy_b, t.difference) == (round(5 / 11, 4), round(10 / 11, 4), round(5 / 11, 4))
    assert t.p_value == 0.125 and t.method == "exact"
    assert mcnemar_p(0, 0) == (1.0, "exact") and mcnemar_p(5, 5)[0] == 1.0
    p, method = mcnemar_p(6000, 5000)  # large: chi-square with continuity, (|6000-5000|-1)^2/11000 = 90.8
    assert method.startswith("chi-square") and p < 1e-20
    res = CliRunner().invoke(cli, ["eval", "score", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "+0.4545" in res.output and "0.125" in res.output and "McNemar" in res.output
    assert CliRunner().invoke(cli, ["eval", "score", str(a), str(b), str(a)]).exit_code != 0
