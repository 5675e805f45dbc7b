"""`intentkb store start|stop|status`: the embedded engine's own commands (its server process).

The group was `intentkb server`, beside `intentkb serve` (the HTTP API): two names a letter apart
for different things. `server` still works, hidden, for scripts written before."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ...clikit import print_format, settings_of
from ...errors import IntentKBError

if TYPE_CHECKING:
    from .server import EmbeddedServer


@click.group("store")
def store_group() -> None:
    """Start, stop or inspect the embedded store's server (FalkorDB) of the data directory."""


def _server(ctx: click.Context) -> EmbeddedServer:
    from .server import EmbeddedServer  # redis: imported when a store command runs, not at every start
    from .settings import FalkorSettings

    s = settings_of(ctx)
    if not s.embedded:
        raise IntentKBError("store commands apply to the embedded store; INTENTKB_GRAPH_URI points elsewhere")
    return EmbeddedServer(s.data_dir, FalkorSettings.of(s).args, grace=s.query_grace)


@store_group.command("start")
@click.pass_context
def store_start(ctx: click.Context) -> None:
    """Start the server, and its supervisor (reuses a running one).

    \b
    Example:
      intentkb store start
    """
    srv = _server(ctx)
    started = srv.start()
    click.echo(f"{'started' if started else 'already running'}: {srv.socket}")


@store_group.command("stop")
@click.pass_context
def store_stop(ctx: click.Context) -> None:
    """Stop the server cleanly (and its supervisor).

    \b
    Example:
      intentkb store stop
    """
    click.echo("stopped" if _server(ctx).stop() else "not running")


@store_group.command("status")
@print_format
@click.pass_context
def store_status(ctx: click.Context, fmt: str) -> None:
    """Is the server running, where, how big, supervised, restarted and why (exit 3 when down).

    \b
    Example:
      intentkb store status --format json
    """
    st = _server(ctx).status()
    if fmt == "json":
        click.echo(st.model_dump_json(indent=2))
    else:
        for k, v in st.model_dump().items():
            click.echo(f"{k:24} {v}")
    if not st.running:
        sys.exit(3)


def attach(root: click.Group) -> None:
    """Add this engine's commands to the `intentkb` group (kb/engines.py lists this module)."""
    root.add_command(store_group)
    root.add_command(click.Group("server", commands=dict(store_group.commands), hidden=True, help="Old name of `intentkb store`."))
