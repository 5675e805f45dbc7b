"""What every command module shares: the settings of the invocation and rejects paths. A command
opens its store as Python does: `open_store(settings_of(ctx))`."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import LazyChoice, comma_list, settings_of


def rejects_path_for(ctx: click.Context, path: Path, what: str) -> Path:
    from ..io.rejects import default_rejects_path

    return default_rejects_path(settings_of(ctx).rejects_dir, path, what)


def fail_if_all_rejected(kept: int, rejected: int, rejects_file: str | None) -> None:
    """A file none of whose lines could be read is a failed run, whatever was printed."""
    if rejected and not kept:
        raise click.ClickException(f"every line was rejected ({rejected:,}): see {rejects_file}")


def server_token(token_file: Path | None, token_arg: str | None, env: str) -> str | None:
    """A server's bearer token: from a file or the environment, never from argv (`ps` shows it)."""
    import os

    from ..serve.running import TOKEN

    if token_arg is not None:
        raise click.UsageError(f"--token VALUE is visible to every user in `ps`: put the token in a file (--token-file) or in {env}")
    where = str(token_file) if token_file else env
    if token_file:
        try:
            token: str | None = token_file.read_bytes().decode("ascii").strip()
        except UnicodeDecodeError:
            raise click.UsageError(f"{where}: a bearer token is printable ASCII, this file holds other bytes") from None
        if not token:
            raise click.UsageError(f"{where} is empty")
    else:
        token = (os.environ.get(env) or "").strip() or None  # an empty or blank variable: no token
    if token is not None and not TOKEN.fullmatch(token):
        raise click.UsageError(f"{where}: a bearer token is printable ASCII without spaces or control characters")
    return token


def refuse_if_open(host: str, token: str | None) -> None:
    """Off loopback a server cannot tell its own names from a DNS-rebinding page's, and anyone who
    reaches the address could query the graph: a token is required there, as for `intentkb mcp --http`."""
    from ..serve.hosts import LOOPBACK

    if host not in LOOPBACK and not token:
        raise click.UsageError(f"listening on {host} needs a token (--token-file FILE or INTENTKB_SERVE_TOKEN): anyone who reaches it could query the graph")


__all__ = ["LazyChoice", "comma_list", "fail_if_all_rejected", "refuse_if_open", "rejects_path_for", "server_token", "settings_of"]
