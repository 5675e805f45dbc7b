"""`intentkb export knowledge` (and what engines add: `export neo4j-import`): the graph out as files for other tools."""

from __future__ import annotations

from pathlib import Path

import click

from .common import LazyChoice, comma_list, settings_of
from .output import print_report, report_format


@click.group("export")
def export_group() -> None:
    """The graph in other tools' formats."""


@export_group.command("knowledge")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory for the JSONL file; its dataset_info.json gets (or keeps) LLaMA-Factory's entry.",
)
@click.option(
    "--output-format",
    "fmt",
    type=LazyChoice("intentkb.export.knowledge", "FILES"),
    default="pretrain",
    show_default=True,
    help="pretrain: {text} documents (LLaMA-Factory's pt stage); alpaca / sharegpt: instruction pairs.",
)
@click.option(
    "--kinds",
    help="Knowledge to export, comma-separated (default: all): cobuy (pairs), purchase (products), session (trajectories), script (steps → products).",
)
@click.option("--include-rejected", is_flag=True, help="Also intentions the role-aware filter rejected.")
@click.option(
    "--exclude",
    "excludes",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A `tasks export` JSONL: leave out everything made of a node its items name (repeatable).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The split seed of `tasks export` (same value there).")
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.2, show_default=True, help="The test share of `tasks export` (same value there).")
@click.option("--keep-test", is_flag=True, help="Do not leave out the groups (pairs, sessions, scripts) of the test split.")
@report_format(moved=("--output-format", LazyChoice("intentkb.export.knowledge", "FILES")))
@click.pass_context
def export_knowledge_cmd(
    ctx: click.Context,
    output: Path,
    fmt: str,
    kinds: str | None,
    include_rejected: bool,
    excludes: tuple[Path, ...],
    seed: int,
    test_fraction: float,
    keep_test: bool,
    as_json: bool,
) -> None:
    """The graph's intention knowledge as training data, kept apart from the test items.

    By default the groups whose task items fall in the test split (the same seed and fraction as
    `tasks export`) are left out; the report says what was left out and why.

    \b
    Example:
      intentkb tasks export -b iqa -o iqa.jsonl
      intentkb export knowledge -o lf-data --output-format pretrain --exclude iqa.jsonl
    """
    from ..export.knowledge import KnowledgeOptions, export_knowledge
    from ..kb.engines import open_store
    from ..knowledge.leakage import Exclusion, excluded_nodes

    settings = settings_of(ctx)
    opts = KnowledgeOptions(
        fmt=fmt,  # type: ignore[arg-type]  # a Choice of the export's FILES
        output=output,
        **({"kinds": comma_list(kinds)} if kinds else {}),
        include_rejected=include_rejected,
        seed=seed,
        test_fraction=test_fraction,
        keep_test=keep_test,
    )
    nodes, items, rejected = excluded_nodes(list(excludes), settings.rejects_dir, echo=lambda m: click.echo(m, err=True))
    exclusion = Exclusion(seed=seed, test_fraction=test_fraction, keep_test=keep_test, nodes=nodes)
    with open_store(settings) as store:
        report = export_knowledge(store, opts, exclusion)
    report.exclude_items, report.exclude_rejected = items, rejected
    print_report(report, as_json)
