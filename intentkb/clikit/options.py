"""Options and context every command shares, and engines' own commands too: nothing here imports
the rest of intentkb but its settings, so `kb/<engine>/cli.py` can use it."""

from __future__ import annotations

from importlib import import_module
from typing import get_args

import click

from ..config import Settings


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
        values = values() if callable(values) and not get_args(values) else values  # a registry's listing
        return (*self._extra, *(get_args(values) or values))

    @choices.setter
    def choices(self, _: object) -> None:  # click's __init__ assigns it; the source is the module
        pass


def comma_list(value: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"] (empty parts dropped)."""
    return [k.strip() for k in value.split(",") if k.strip()]


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings()
