"""Click options made from a pydantic model's fields: flag, type, bounds, default and help all come
from the field, so the model is the one place they are written (a pipeline's options model becomes
its `generate` subcommand; a benchmark's build options become flags of `tasks export`)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

import click


class Pair(click.ParamType):
    """`low,high` -> (float, float), for a field typed tuple[float, float]."""

    name = "low,high"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[float, float]:
        if isinstance(value, tuple):
            return value
        try:
            lo, hi = (float(x) for x in str(value).split(","))
        except ValueError:
            self.fail("two numbers, low,high (e.g. 0.3,0.8)", param, ctx)
        return lo, hi


def field_flag(name: str, info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def field_option(name: str, info: Any, *, prefix: str = "") -> Any:
    """The click option of one model field (`prefix`: put before its help, e.g. the benchmark it is for)."""
    flag = field_flag(name, info)
    ann = info.annotation
    if get_origin(ann) in (typing.Union, types.UnionType):  # Optional[X] -> X
        ann = next(a for a in get_args(ann) if a is not type(None))
    if not info.description:  # a field without one is a mistake in the model, not a command without help
        raise TypeError(f"options field {name!r} has no description: it is the option's help text")
    kw: dict[str, Any] = {"help": prefix + info.description, "show_default": True}
    if get_origin(ann) is tuple and get_args(ann) == (float, float):
        kw["type"] = Pair()
        if info.default is not None:
            kw["default"] = ",".join(str(x) for x in info.default)
        return click.option(flag, name, **kw)
    multiple = get_origin(ann) in (list, tuple)
    inner = get_args(ann)[0] if multiple else ann
    if inner is bool:
        return click.option(flag, name, is_flag=True, default=bool(info.default), help=kw["help"])
    if get_origin(inner) is Literal:
        kw["type"] = click.Choice([str(a) for a in get_args(inner)])
    elif inner is int:
        lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in info.metadata if hasattr(m, "le")), None)
        kw["type"] = click.IntRange(lo, hi)
    elif inner is float:
        lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in info.metadata if hasattr(m, "le")), None)
        kw["type"] = click.FloatRange(lo, hi)
    if multiple:
        kw.update(multiple=True, show_default=False)
    elif not info.is_required() and info.default is not None:
        kw["default"] = info.default
    else:
        kw["show_default"] = False
    return click.option(flag, name, **kw)
