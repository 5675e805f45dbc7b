"""`intentkb trajectories`: intention trajectories streamed as JSON lines."""

from __future__ import annotations

import click

from ..kb.engines import open_store
from .common import settings_of
from .output import emit_jsonl


@click.command()
@click.option("--session", "sessions", multiple=True, help="Only these sessions (repeatable).")
@click.option("--details", is_flag=True, help="Per step: intention text, attribute, rationale, comparison, product.")
@click.option("--page", type=click.IntRange(1, 100_000), default=200, show_default=True, help="Sessions per query.")
@click.pass_context
def trajectories(ctx: click.Context, sessions: tuple[str, ...], details: bool, page: int) -> None:
    """Stream intention trajectories (root-to-leaf paths) as JSON Lines.

    \b
    Example:
      intentkb trajectories > trajectories.jsonl
      intentkb trajectories --session demo-skate --details
    """
    from ..kb.queries import iter_session_ids, iter_trajectories, trajectory_details

    with open_store(settings_of(ctx)) as store:
        if details:
            ids = list(sessions) if sessions else iter_session_ids(store)
            n = sum(emit_jsonl(trajectory_details(store, sid)) for sid in ids)
        else:
            n = emit_jsonl(iter_trajectories(store, page=page, sessions=list(sessions) or None))
    click.echo(f"{n} trajectories", err=True)
