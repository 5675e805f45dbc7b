"""`intentkb annotations import`: human answers to benchmark items, turned into gold labels."""

from __future__ import annotations

from pathlib import Path

import click

from .common import rejects_path_for
from .output import emit, print_format


@click.group("annotations")
def annotations_group() -> None:
    """Human annotations of benchmark items."""


@annotations_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the gold labels here (JSON Lines: id, task, label, agreement, answers).")
@click.option(
    "--one-sided",
    type=click.FloatRange(0.5, 1.0),
    default=0.8,
    show_default=True,
    help="Leave out annotators who pick one side (positive or negative) at least this often.",
)
@click.option("--min-answers", type=click.IntRange(1), default=10, show_default=True, help="…over at least this many answers.")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.annotations.rejects.jsonl).")
@print_format
@click.pass_context
def annotations_import(ctx: click.Context, file: Path, output: Path | None, one_sided: float, min_answers: int, rejects: Path | None, fmt: str) -> None:
    """Majority labels (T1–T3: A/B positive; T4: A positive) with 3:0 / 2:1 agreement from one answer a row
    (id, task, annotator, answer), after leaving out one-sided annotators.

    \b
    Example:
      intentkb annotations import answers.csv -o gold.jsonl
    """
    from ..evaluation.annotations import import_annotations

    report = import_annotations(
        file,
        output=output,
        one_sided=one_sided,
        min_answers=min_answers,
        rejects_path=rejects or rejects_path_for(ctx, file, "annotations"),
        echo=lambda m: click.echo(m, err=True),
    )
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
        return
    click.echo(
        f"{report.file}: read {report.read} = loaded {report.loaded} + rejected {report.rejected}"
        + (f" (rejects: {report.rejects_file})" if report.rejects_file else "")
    )
    gone = [a for a in report.annotators if a.excluded]
    click.echo(
        f"{len(report.annotators)} annotators, {len(gone)} left out as one-sided"
        + (": " + ", ".join(f"{a.annotator} ({a.positive_share:.0%} positive of {a.answers})" for a in gone) if gone else "")
    )
    emit([t.model_dump() for t in report.tasks], "table")
    if report.output:
        click.echo(f"gold labels: {report.output}")
