"""`intentkb index build`: the FAISS indexes over intentions, script steps and product texts."""

from __future__ import annotations

import click

from ..kb.engines import open_store
from .common import LazyChoice, settings_of
from .output import print_report, report_format


@click.group("index")
def index_group() -> None:
    """FAISS indexes over intentions, script steps and product texts, kept beside the graph."""


@index_group.command("build")
@click.option("--only", type=LazyChoice("intentkb.retrieval.build", "SOURCES"), multiple=True, help="Build only this index (repeatable).")
@click.option("--rebuild", is_flag=True, help="Build from scratch (needed after changing the embedding model).")
@report_format
@click.pass_context
def index_build(ctx: click.Context, only: tuple[str, ...], rebuild: bool, as_json: bool) -> None:
    """Embed new and changed texts, drop deleted ones, save the indexes.

    \b
    Example:
      intentkb index build
      INTENTKB_EMBEDDING_MODEL=/models/e5-small intentkb index build --rebuild
    """
    from ..retrieval.build import build_indexes

    with open_store(settings_of(ctx)) as store:
        reports = build_indexes(store, settings_of(ctx), list(only) or None, rebuild=rebuild, progress=True, echo=lambda m: click.echo(m, err=True))
    print_report(reports, as_json)
