"""`intentkb show session ID [--html FILE]`: a session's intention tree as a page (intentkb.views)."""

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
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the page (default: session-ID.html in the current directory)."
)
@click.pass_context
def show_session(ctx: click.Context, session: str, html_path: Path | None) -> None:
    """One session's intention tree as an HTML page: products on top, branches below; click a box
    (or move to it with Tab and the arrow keys) for its intention, attribute, rationale and comparison.

    \b
    Example:
      intentkb show session demo-skate --html skate.html
    """
    from ..kb.engines import open_store
    from ..views.session import write_session_html

    target = html_path or Path(f"session-{''.join(c if c.isalnum() or c in '-_' else '_' for c in session)}.html")
    with open_store(settings_of(ctx)) as store:
        path = write_session_html(store, session, target)
    click.echo(f"wrote {path}")
