"""`intentkb annotations import`: three annotators' answers → one gold label per item, as
SessionIntentBench builds its test set (appendix D–E).

Input: CSV or JSON Lines, one answer a row: `id`, `task`, `annotator` (or `worker`, `WorkerId`),
`answer` (or `choice`, `label`): a letter of the 4-point scale (A Yes, B Maybe yes, C Maybe no,
D No; T4: A same category, B same category other features, C other category).

- Answers are grouped: T1–T3 A/B positive, C/D negative; T4 A positive, B/C negative (a task whose
  name ends in 4 is T4). The gold label is the group most annotators chose (positive / negative),
  with its agreement: "3:0" when all agree, "2:1" when one differs; an even split has no label.
- Annotators who pick one side for at least `one_sided` (0.8) of their answers — over at least
  `min_answers` answers — are left out before the vote, as the paper did with its spammers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, field_validator, model_validator

from ..errors import FormatError
from ..io.paths import check_output
from ..io.rejects import RejectSink, user_rejects_path, validated
from ..io.sources import Record, base_suffix, csv_records, jsonl_dump, jsonl_records
from ..kb.models import Key, Text

_ALIASES = {"annotator": ("annotator", "worker", "workerid", "worker_id"), "answer": ("answer", "choice", "label")}


def positive_options(task: str) -> set[str]:
    return {"A"} if task.strip().lower().rstrip(" )").endswith("4") else {"A", "B"}


class Answer(BaseModel):
    id: Key
    task: Key
    annotator: Key
    answer: Text

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        low = {str(k).strip().lower(): v for k, v in raw.items()}
        out = {k: low.get(k) for k in ("id", "task")}
        for field, names in _ALIASES.items():
            out[field] = next((low[n] for n in names if low.get(n) not in (None, "")), None)
        return out

    @field_validator("answer", mode="before")
    @classmethod
    def _letter(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        letter = v.strip().upper()[:1]
        if letter not in ("A", "B", "C", "D") or (len(v.strip()) > 1 and v.strip()[1:2].isalnum()):
            raise ValueError(f"answer must be a letter A-D, got {v!r}")
        return letter


class AnnotatorStats(BaseModel):
    annotator: str
    answers: int
    positive_share: float
    excluded: bool


class TaskAgreement(BaseModel):
    task: str
    items: int
    labelled: int
    agree_3_0: int
    agree_2_1: int
    no_majority: int
    positive: int
    negative: int


class AnnotationReport(BaseModel):
    file: str
    read: int
    loaded: int
    rejected: int
    rejects_file: str | None = None
    output: str | None = None
    annotators: list[AnnotatorStats]
    tasks: list[TaskAgreement]

    @model_validator(mode="after")
    def _balanced(self) -> AnnotationReport:
        if self.read != self.loaded + self.rejected:
            raise ValueError(f"read {self.read} != loaded {self.loaded} + rejected {self.rejected}")
        return self


def _records(path: Path) -> Iterator[Record]:
    if base_suffix(path) in (".jsonl", ".json", ".ndjson"):
        return jsonl_records(path, ())
    if base_suffix(path) in (".csv", ".tsv"):
        return csv_records(path, ("id", "task"))
    raise FormatError(f"{path}: annotations are read from .csv or .jsonl files")


def import_annotations(
    path: Path | str,
    *,
    output: Path | None = None,
    one_sided: float = 0.8,
    min_answers: int = 10,
    rejects_path: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> AnnotationReport:
    """Gold labels with agreement per item (written to `output` as JSON Lines) and the statistics."""
    path = Path(path)
    sink = RejectSink(rejects_path or user_rejects_path(path, "annotations"), path, echo)
    answers: list[Answer] = []
    seen: set[tuple[str, str]] = set()
    try:
        for line, a, raw in validated(_records(path), Answer, sink):
            if (a.id, a.annotator) in seen:
                sink.add(line, f"annotator {a.annotator!r} answered item {a.id!r} twice", raw)
                continue
            seen.add((a.id, a.annotator))
            answers.append(a)
    finally:
        sink.close()
    read = len(answers) + sink.count

    sides: dict[str, list[bool]] = defaultdict(list)
    for a in answers:
        sides[a.annotator].append(a.answer in positive_options(a.task))
    stats = []
    excluded: set[str] = set()
    for who, s in sorted(sides.items()):
        share = sum(s) / len(s)
        out = len(s) >= min_answers and (share >= one_sided or share <= 1 - one_sided)
        if out:
            excluded.add(who)
        stats.append(AnnotatorStats(annotator=who, answers=len(s), positive_share=round(share, 4), excluded=out))

    items: dict[tuple[str, str], list[Answer]] = defaultdict(list)
    for a in answers:
        if a.annotator not in excluded:
            items[(a.task, a.id)].append(a)
    per_task: dict[str, Counter[str]] = defaultdict(Counter)
    out_rows = []
    for (task, iid), votes in sorted(items.items()):
        pos = positive_options(task)
        n_pos = sum(v.answer in pos for v in votes)
        n_neg = len(votes) - n_pos
        c = per_task[task]
        c["items"] += 1
        if n_pos == n_neg:
            c["no_majority"] += 1
            continue
        label = "positive" if n_pos > n_neg else "negative"
        agreement = f"{max(n_pos, n_neg)}:{min(n_pos, n_neg)}"
        c["labelled"] += 1
        c[label] += 1
        c[agreement] += 1
        out_rows.append(
            {
                "id": iid,
                "task": task,
                "label": label,
                "agreement": agreement,
                "answers": dict(sorted(Counter(v.answer for v in votes).items())),
                "positive": sorted(pos),
            }
        )
    if output is not None:
        check_output(output, directory=False)
        tmp = output.with_name(output.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in out_rows:
                fh.write(jsonl_dump(row) + "\n")
        tmp.replace(output)
    tasks = [
        TaskAgreement(
            task=t,
            items=c["items"],
            labelled=c["labelled"],
            agree_3_0=c["3:0"],
            agree_2_1=c["2:1"],
            no_majority=c["no_majority"],
            positive=c["positive"],
            negative=c["negative"],
        )
        for t, c in sorted(per_task.items())
    ]
    return AnnotationReport(
        file=str(path),
        read=read,
        loaded=len(answers),
        rejected=sink.count,
        rejects_file=str(sink.path) if sink.count else None,
        output=str(output) if output else None,
        annotators=stats,
        tasks=tasks,
    )
