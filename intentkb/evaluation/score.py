"""`intentkb eval score`: accuracy and macro-F1 per task from a file of predictions, with the random
and majority baselines that make them readable.

A results file is JSON Lines, one answered item a line:

    {"id": "sib-t1-…", "task": "sib-t1", "label": "A", "prediction": "B", "options": ["A", "B", "C", "D"]}

`prediction` null or "" is an invalid answer: it counts as wrong and is reported as the invalid
rate. `positive` (optional, e.g. ["A", "B"]) scores the item the way SessionIntentBench does: the
answer scale is grouped into positive (T1–T3: A/B "yes / maybe yes"; T4: A) and negative, label
and prediction are compared as groups, and F1 of the positive class is reported beside macro-F1
(null where nothing was predicted positive, the paper's NaN). `options` (the answer scale) is optional; without it the scale is the labels and
predictions seen for the task. Macro-F1 averages F1 over the classes of the scale (a class never
predicted nor gold contributes nothing; precision of a class never predicted is 0).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..io.rejects import RejectSink, user_rejects_path, validated
from ..io.sources import jsonl_records
from ..kb.models import OptText, Text
from .metrics import Accuracy, accuracy

RANDOM_DRAWS = 200  # the random baseline is the mean of this many seeded uniform draws


class Scored(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Text
    task: Text
    label: OptText = None  # an item nobody has labelled yet: read, not scored
    prediction: OptText = None
    options: list[str] | None = Field(default=None, min_length=2)
    positive: list[str] | None = Field(default=None, min_length=1)

    @field_validator("options", mode="before")
    @classmethod
    def _scale(cls, v: object) -> object:
        return list(v) if isinstance(v, dict) else v  # the letter -> text map of `tasks export`

    @field_validator("label", "prediction", mode="before")
    @classmethod
    def _letters(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


def macro_f1(gold: list[str], pred: list[str | None], classes: list[str]) -> float:
    """Mean over `classes` of F1; an invalid prediction (None) is a miss for its gold class."""
    if not classes:
        return 0.0
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter(gold)
    for g, p in zip(gold, pred):
        if p is not None:
            n_pred[p] += 1
            if p == g:
                tp[g] += 1
    f1s = []
    for c in classes:
        prec = tp[c] / n_pred[c] if n_pred[c] else 0.0
        rec = tp[c] / n_gold[c] if n_gold[c] else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / len(f1s)


class Baseline(BaseModel):
    accuracy: float
    macro_f1: float


class TaskScore(BaseModel):
    task: str
    items: int
    accuracy: Accuracy
    macro_f1: float
    f1_positive: float | None = None  # binary (grouped) scoring only
    invalid: int
    invalid_rate: float
    classes: list[str]
    gold_distribution: dict[str, int]
    random: Baseline
    majority: Baseline
    majority_label: str


class ScoreReport(BaseModel):
    file: str
    read: int
    scored: int
    rejected: int
    unlabelled: int = 0
    rejects_file: str | None = None
    tasks: list[TaskScore]
    overall: TaskScore | None = None


def _f1_positive(gold: list[str], pred: list[str | None]) -> float | None:
    tp = sum(g == p == "positive" for g, p in zip(gold, pred))
    fp = sum(p == "positive" and g != p for g, p in zip(gold, pred))
    fn = sum(g == "positive" and p != g for g, p in zip(gold, pred))
    if tp + fp == 0:
        return None
    prec, rec = tp / (tp + fp), (tp / (tp + fn) if tp + fn else 0.0)
    return round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0


def graded(rows: list[Scored]) -> tuple[list[str], list[str | None], list[str], bool]:
    """(gold, predictions, classes, grouped) as a task is scored: with `positive`, labels and
    predictions become their group (SessionIntentBench's binary reading)."""
    gold: list[str] = [r.label or "" for r in rows]
    pred: list[str | None] = [r.prediction or None for r in rows]
    scale = next((r.options for r in rows if r.options), None)
    positive = next((r.positive for r in rows if r.positive), None)
    if positive is not None:
        pos = {x.strip().upper() for x in positive}
        # a gold label may already be a group (what `annotations import` writes)
        group = lambda x: None if x is None else (x.lower() if x in ("POSITIVE", "NEGATIVE") else "positive" if x in pos else "negative")  # noqa: E731
        gold = [group(g) or "negative" for g in gold]
        pred = [group(p) for p in pred]
        scale = ["negative", "positive"]
    classes = sorted({o.strip().upper() if positive is None else o for o in scale}) if scale else sorted(set(gold) | {p for p in pred if p})
    return gold, pred, classes, positive is not None


def score_task(task: str, rows: list[Scored], seed: int = 0) -> TaskScore:
    gold, pred, classes, grouped = graded(rows)
    correct = sum(g == p for g, p in zip(gold, pred))
    invalid = sum(p is None for p in pred)
    counts = Counter(gold)
    major = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    rng = random.Random(seed)
    r_acc = r_f1 = 0.0
    for _ in range(RANDOM_DRAWS):
        draw = [rng.choice(classes) for _ in gold]
        r_acc += sum(g == d for g, d in zip(gold, draw)) / len(gold)
        r_f1 += macro_f1(gold, list(draw), classes)
    return TaskScore(
        task=task,
        items=len(rows),
        accuracy=accuracy(correct, len(rows)),
        macro_f1=round(macro_f1(gold, pred, classes), 4),
        f1_positive=_f1_positive(gold, pred) if grouped else None,
        invalid=invalid,
        invalid_rate=round(invalid / len(rows), 4),
        classes=classes,
        gold_distribution=dict(sorted(counts.items())),
        random=Baseline(accuracy=round(r_acc / RANDOM_DRAWS, 4), macro_f1=round(r_f1 / RANDOM_DRAWS, 4)),
        majority=Baseline(accuracy=round(counts[major] / len(rows), 4), macro_f1=round(macro_f1(gold, [major] * len(gold), classes), 4)),
        majority_label=major,
    )


def read_results(path: Path, rejects_path: Path | None = None, echo: Callable[[str], None] | None = None) -> tuple[dict[str, list[Scored]], int, RejectSink]:
    """(task -> labelled rows, unlabelled rows, the closed rejects sink) of a results file."""
    sink = RejectSink(rejects_path or user_rejects_path(path, "score"), path, echo)
    by_task: dict[str, list[Scored]] = defaultdict(list)
    seen: set[str] = set()
    unlabelled = 0
    try:
        for line, row, raw in validated(jsonl_records(path, ()), Scored, sink):
            if row.id in seen:
                sink.add(line, f"duplicate id {row.id!r}", raw)
                continue
            seen.add(row.id)
            if row.label is None:
                unlabelled += 1
                continue
            by_task[row.task].append(row)
    finally:
        sink.close()
    return by_task, unlabelled, sink


def score_file(path: Path | str, *, rejects_path: Path | None = None, echo: Callable[[str], None] | None = None) -> ScoreReport:
    """Score every task in a results file; bad lines go to the rejects file with their line and reason."""
    path = Path(path)
    by_task, unlabelled, sink = read_results(path, rejects_path, echo)
    read = sum(len(v) for v in by_task.values()) + unlabelled + sink.count
    tasks = [score_task(t, rows) for t, rows in sorted(by_task.items())]
    everything = [r for t in sorted(by_task) for r in by_task[t]]
    overall = None
    if len(tasks) > 1:
        # tasks with different answer scales: no common class set, so the overall macro-F1 is the
        # mean of the tasks' and the accuracy is pooled
        correct = sum(t.accuracy.correct for t in tasks)
        invalid = sum(t.invalid for t in tasks)
        overall = TaskScore(
            task="all",
            items=len(everything),
            accuracy=accuracy(correct, len(everything)),
            macro_f1=round(sum(t.macro_f1 for t in tasks) / len(tasks), 4),
            invalid=invalid,
            invalid_rate=round(invalid / len(everything), 4),
            classes=[],
            gold_distribution={},
            random=Baseline(
                accuracy=round(sum(t.random.accuracy * t.items for t in tasks) / len(everything), 4),
                macro_f1=round(sum(t.random.macro_f1 for t in tasks) / len(tasks), 4),
            ),
            majority=Baseline(
                accuracy=round(sum(t.majority.accuracy * t.items for t in tasks) / len(everything), 4),
                macro_f1=round(sum(t.majority.macro_f1 for t in tasks) / len(tasks), 4),
            ),
            majority_label="",
        )
    return ScoreReport(
        file=str(path),
        read=read,
        scored=len(everything),
        rejected=sink.count,
        unlabelled=unlabelled,
        rejects_file=str(sink.path) if sink.count else None,
        tasks=tasks,
        overall=overall,
    )
