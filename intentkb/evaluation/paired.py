"""`intentkb eval score A B`: two runs on the same items side by side, with McNemar's test.

Items are paired by id (a results file per run, as `eval run` writes them); only items labelled
and present in both are compared, each graded as `eval score` grades it (an invalid answer is
wrong; with `positive`, the grouped reading). Of the paired items, `a_only` are right in A and
wrong in B, `b_only` the reverse: McNemar's test asks whether these discordant counts differ more
than chance would make them. The p-value is exact (two-sided binomial on the discordant items,
McNemar 1947 / Edwards 1948 in its exact form) up to 10,000 discordant items, and the
continuity-corrected chi-square beyond.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from .score import Scored, graded, read_results

EXACT_UP_TO = 10_000


def mcnemar_p(a_only: int, b_only: int) -> tuple[float, str]:
    """Two-sided p-value for the discordant counts, and the method used."""
    n = a_only + b_only
    if n == 0:
        return 1.0, "exact"
    if n <= EXACT_UP_TO:
        k = min(a_only, b_only)
        tail = sum(math.comb(n, i) for i in range(k + 1))
        return min(1.0, 2 * tail / 2**n), "exact"
    chi2 = (abs(a_only - b_only) - 1) ** 2 / n
    return math.erfc(math.sqrt(chi2 / 2)), "chi-square, continuity-corrected"


class PairedScore(BaseModel):
    task: str
    paired: int
    only_in_a: int
    only_in_b: int
    accuracy_a: float
    accuracy_b: float
    difference: float  # B - A, in accuracy on the paired items
    a_only: int  # right in A, wrong in B
    b_only: int
    p_value: float
    method: str


class PairedReport(BaseModel):
    a: str
    b: str
    rejected_a: int
    rejected_b: int
    tasks: list[PairedScore]
    overall: PairedScore | None = None


def _correct(rows: list[Scored]) -> dict[str, bool]:
    gold, pred, _, _ = graded(rows)
    return {r.id: g == p for r, g, p in zip(rows, gold, pred)}


def _paired(task: str, a: dict[str, bool], b: dict[str, bool]) -> PairedScore:
    common = sorted(a.keys() & b.keys())
    n = len(common)
    right_a = sum(a[i] for i in common)
    right_b = sum(b[i] for i in common)
    a_only = sum(a[i] and not b[i] for i in common)
    b_only = sum(b[i] and not a[i] for i in common)
    p, method = mcnemar_p(a_only, b_only)
    acc_a, acc_b = (right_a / n, right_b / n) if n else (0.0, 0.0)
    return PairedScore(
        task=task,
        paired=n,
        only_in_a=len(a.keys() - b.keys()),
        only_in_b=len(b.keys() - a.keys()),
        accuracy_a=round(acc_a, 4),
        accuracy_b=round(acc_b, 4),
        difference=round(acc_b - acc_a, 4),
        a_only=a_only,
        b_only=b_only,
        p_value=round(p, 6),
        method=method,
    )


def compare_files(a: Path, b: Path, echo: Callable[[str], None] | None = None) -> PairedReport:
    by_a, _, sink_a = read_results(a, echo=echo)
    by_b, _, sink_b = read_results(b, echo=echo)
    tasks = sorted(by_a.keys() | by_b.keys())
    graded_a = {t: _correct(by_a.get(t, [])) for t in tasks}
    graded_b = {t: _correct(by_b.get(t, [])) for t in tasks}
    scores = [_paired(t, graded_a[t], graded_b[t]) for t in tasks]
    overall = None
    if len(tasks) > 1:
        every_a = {f"{t}\x1f{i}": v for t in tasks for i, v in graded_a[t].items()}
        every_b = {f"{t}\x1f{i}": v for t in tasks for i, v in graded_b[t].items()}
        overall = _paired("all", every_a, every_b)
    return PairedReport(a=str(a), b=str(b), rejected_a=sink_a.count, rejected_b=sink_b.count, tasks=scores, overall=overall)
