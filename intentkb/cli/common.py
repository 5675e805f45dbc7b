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

    if token_arg is not None:
        raise click.UsageError(f"--token VALUE is visible to every user in `ps`: put the token in a file (--token-file) or in {env}")
    token = token_file.read_text().strip() if token_file else os.environ.get(env) or None
    if token_file and not token:
        raise click.UsageError(f"{token_file} is empty")
    return token


def warn_if_open(host: str, token: str | None) -> None:
    from ..serve.running import LOOPBACK

    if host not in LOOPBACK and not token:
        click.echo(f"warning: listening on {host} without a token: anyone who reaches it can query the graph", err=True)


__all__ = ["LazyChoice", "comma_list", "fail_if_all_rejected", "rejects_path_for", "server_token", "settings_of", "warn_if_open"]
