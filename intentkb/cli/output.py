"""The evaluation reports as tables (`eval score`, `eval score A B`); the rest of what commands
print is intentkb.clikit.output."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..clikit.output import FORMATS, REPORT_FORMATS, _cell, emit, emit_jsonl, print_format, print_report, report_format

if TYPE_CHECKING:
    from ..evaluation.paired import PairedReport
    from ..evaluation.score import ScoreReport

__all__ = ["FORMATS", "REPORT_FORMATS", "_cell", "emit", "emit_jsonl", "print_format", "print_paired", "print_report", "print_score", "report_format"]


def print_score(report: ScoreReport) -> None:
    """An `eval score` report as a line of counts and a table per task (with the overall row)."""
    click.echo(
        f"{report.file}: read {report.read} = scored {report.scored} + rejected {report.rejected}"
        + (f" + unlabelled {report.unlabelled}" if report.unlabelled else "")
        + (f" (rejects: {report.rejects_file})" if report.rejects_file else "")
    )
    rows = [
        {
            "task": t.task,
            "items": t.items,
            "accuracy": t.accuracy.text(),
            "macro_f1": f"{t.macro_f1:.4f}",
            "F1 positive": "-" if t.f1_positive is None else f"{t.f1_positive:.4f}",
            "invalid": f"{t.invalid_rate:.2%}",
            "random acc/F1": f"{t.random.accuracy:.4f}/{t.random.macro_f1:.4f}",
            "majority acc/F1": f"{t.majority.accuracy:.4f}/{t.majority.macro_f1:.4f}",
        }
        for t in [*report.tasks, *([report.overall] if report.overall else [])]
    ]
    emit(rows, "table")


def print_paired(report: PairedReport) -> None:
    """Two runs side by side: accuracy of each on the shared items, the difference, McNemar's p."""
    click.echo(f"A = {report.a}\nB = {report.b}")
    rows = [
        {
            "task": t.task,
            "paired items": t.paired,
            "accuracy A": f"{t.accuracy_a:.4f}",
            "accuracy B": f"{t.accuracy_b:.4f}",
            "B - A": f"{t.difference:+.4f}",
            "right in A only": t.a_only,
            "right in B only": t.b_only,
            "McNemar p": f"{t.p_value:.4g}",
            "only in A/B": f"{t.only_in_a}/{t.only_in_b}",
        }
        for t in [*report.tasks, *([report.overall] if report.overall else [])]
    ]
    emit(rows, "table")
    method = {t.method for t in report.tasks}
    click.echo(f"McNemar's test on the items right in one run only ({', '.join(sorted(method))})")
