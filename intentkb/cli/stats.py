"""`intentkb stats`: counts per label and edge type, and the MIND filter's preserve rates."""

from __future__ import annotations

import json

import click

from ..kb.engines import open_store
from .common import settings_of
from .output import emit, print_format


@click.command()
@print_format
@click.pass_context
def stats(ctx: click.Context, fmt: str) -> None:
    """Counts per label and edge type, and MIND filter preserve rates per relation.

    \b
    Example:
      intentkb stats --format json
    """
    from ..kb.queries import relation_preserve_rates

    with open_store(settings_of(ctx)) as store:
        counts = store.counts()
        rates = relation_preserve_rates(store)
    if fmt == "json":
        click.echo(json.dumps({**counts, "relations": rates}, indent=2))
        return
    emit([{"label": k, "nodes": v} for k, v in counts["nodes"].items()], "table")
    emit([{"type": k, "edges": v} for k, v in counts["edges"].items()], "table")
    if rates:
        emit(rates, "table")
