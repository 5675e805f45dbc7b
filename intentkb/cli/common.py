"""What every command module shares: the settings of the invocation, rejects paths, the store."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import get_args

import click

from ..config import Settings
from ..kb.store import GraphStore


class LazyChoice(click.Choice):
    """A Choice whose values come from the module that defines them, imported only when the
    command runs or shows its help: `intentkb retrieve` need not import the LLM stack to start."""

    def __init__(self, module: str, name: str, *, extra: tuple[str, ...] = ()) -> None:
        self._source, self._extra = (module, name), extra
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        module, name = self._source
        values = getattr(import_module(module), name)
        return (*self._extra, *(get_args(values) or values))

    @choices.setter
    def choices(self, _: object) -> None:  # click's __init__ assigns it; the source is the module
        pass


def comma_list(value: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"] (empty parts dropped)."""
    return [k.strip() for k in value.split(",") if k.strip()]


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings()


def rejects_path_for(ctx: click.Context, path: Path, what: str) -> Path:
    from ..io.rejects import default_rejects_path

    return default_rejects_path(settings_of(ctx).rejects_dir, path, what)


def fail_if_all_rejected(kept: int, rejected: int, rejects_file: str | None) -> None:
    """A file none of whose lines could be read is a failed run, whatever was printed."""
    if rejected and not kept:
        raise click.ClickException(f"every line was rejected ({rejected:,}): see {rejects_file}")


def store_for(ctx: click.Context) -> GraphStore:
    from ..kb.engines import open_store

    return open_store(settings_of(ctx))
