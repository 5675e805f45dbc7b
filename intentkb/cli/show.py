"""`intentkb show session ID --html FILE`: a session's intention tree as a page (intentkb.views)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import settings_of


@click.group("show")
def show_group() -> None:
    """Look at part of the graph."""


@show_group.command("session")
@click.argument("session")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write an interactive page of the session's intention tree here.",
)
@click.pass_context
def show_session(ctx: click.Context, session: str, html_path: Path) -> None:
    """One session's intention tree as an HTML page: products on top, branches below, details on hover.

    \b
    Example:
      intentkb show session demo-skate --html skate.html
    """
    from ..kb.engines import open_store
    from ..views.session import write_session_html

    with open_store(settings_of(ctx)) as store:
        path = write_session_html(store, session, html_path)
    click.echo(f"wrote {path}")
