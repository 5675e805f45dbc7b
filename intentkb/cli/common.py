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


__all__ = ["LazyChoice", "comma_list", "fail_if_all_rejected", "rejects_path_for", "settings_of"]
