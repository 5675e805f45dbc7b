"""`intentkb ingest KIND FILE`: the readers of outside data, through one validated, idempotent load."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..kb.engines import open_store
from .common import LazyChoice, settings_of
from .output import print_report, report_format

_INGEST_HELP = {
    "products": "Amazon-M2 products (CSV/parquet) or the Amazon catalogue CSV.",
    "sessions": "Amazon-M2 sessions (CSV/parquet; prev_items, next_item, locale).",
    "cobuy": "MIND/FolkScope paired CSV or IntentionQA JSONL co-buy intentions.",
    "scripts": "CoScript JSONL scripts (Abstract Goal, Specific Goal, Constraint, Script, Category).",
    "intentions": "Purchase intentions of products (JSONL/CSV: product, intention[, title]).",
    "trees": "Intention trees in intentkb's JSONL format (see intentkb.ingest.trees).",
}


@click.command()
@click.argument("kind", type=click.Choice(list(_INGEST_HELP)))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--input-format", "fmt", help="Reader format (default: detected). products: m2|catalog; cobuy: mind|intentionqa.")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.KIND.rejects.jsonl).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), help="Records (tree nodes for trees) per write batch.")
@click.option(
    "--mode",
    type=LazyChoice("intentkb.ingest.run", "MODES"),
    default="auto",
    show_default=True,
    help="trees: 'bulk' builds an empty embedded graph with GRAPH.BULK (5-10x faster, same graph); "
    "'merge' writes with MERGE; 'auto' bulk-loads when the graph is empty.",
)
@click.option("--workers", type=click.IntRange(0, 64), help="Bulk path: parsing processes (default: CPUs, 0 for small files).")
@report_format
@click.pass_context
def ingest(
    ctx: click.Context,
    kind: str,
    files: tuple[Path, ...],
    fmt: str | None,
    rejects: Path | None,
    batch_size: int | None,
    mode: str,
    workers: int | None,
    as_json: bool,
) -> None:
    """Load FILES of KIND; bad rows go to a rejects file, good rows load, re-runs add nothing.

    \b
    Example:
      intentkb ingest products test_sample_1000.csv
      intentkb ingest cobuy crowdsourcing_integrate_4500_b*.csv
      intentkb ingest sessions sessions_train.parquet --input-format m2
    """
    from ..ingest import IngestFailed, ingest_file

    summaries: list[Any] = []
    with open_store(settings_of(ctx)) as store:
        for f in files:
            try:
                s = ingest_file(
                    store,
                    kind,
                    f,
                    fmt=fmt,
                    rejects_path=rejects,
                    batch_size=batch_size,
                    mode=mode,
                    workers=workers,
                    progress=sys.stderr.isatty(),
                    echo=lambda m: click.echo(m, err=True),
                )
            except IngestFailed as e:  # what was kept is printed, then the one-line reason and exit 1
                print_report([*summaries, e.summary] if as_json else e.summary, as_json)
                raise
            summaries.append(s)
            if not as_json:
                click.echo(s.line())
    if as_json:
        print_report(summaries, as_json)
