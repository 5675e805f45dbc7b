"""`intentkb report quality`: how generic, duplicated, thin or malformed the graph's knowledge is."""

from __future__ import annotations

from pathlib import Path

import click

from .common import settings_of
from .output import print_report, report_format


@click.group("report")
def report_group() -> None:
    """Reports on the knowledge base itself."""


@report_group.command("quality")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), help="Also write the report as a page with plots to this file.")
@report_format
@click.pass_context
def report_quality(ctx: click.Context, html: Path | None, as_json: bool) -> None:
    """Near-duplicate and generic intentions, diversity (distinct-1/2), schema adherence, coverage
    and critic scores, over the whole graph and per pipeline, relation and source.

    \b
    Example:
      intentkb report quality
      intentkb report quality --format json --html quality.html
    """
    from ..kb.engines import open_store
    from ..quality.report import quality_report

    settings = settings_of(ctx)
    with open_store(settings) as store:
        report = quality_report(store, settings, echo=lambda m: click.echo(m, err=True), progress=True)
    print_report(report, as_json)
    if html:
        from ..views.quality_page import write_quality_html

        click.echo(f"wrote {write_quality_html(report, html)}", err=True)
