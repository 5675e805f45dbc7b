"""Click options made from a pydantic model's fields: flag, type, bounds, default and help all come
from the field, so the model is the one place they are written (a pipeline's options model becomes
its `generate` subcommand; a benchmark's build options become flags of `tasks export`)."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any, Literal, get_args, get_origin

import click


class Numbers(click.ParamType):
    """`a,b` -> a tuple of `size` numbers, for a field typed tuple[float, float] (or of ints)."""

    def __init__(self, size: int, kind: type) -> None:
        self.size, self.kind = size, kind
        self.name = ",".join(["low", "high"] if size == 2 else ["n"] * size)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        if isinstance(value, tuple):
            return value
        try:
            out = tuple(self.kind(x) for x in str(value).split(","))
        except ValueError:
            out = ()
        if len(out) != self.size:
            self.fail(f"{self.size} numbers separated by commas (e.g. {','.join(['1'] * self.size)})", param, ctx)
        return out


def field_flag(name: str, info: Any) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def _bounds(info: Any) -> tuple[Any, Any]:
    return next((m.ge for m in info.metadata if hasattr(m, "ge")), None), next((m.le for m in info.metadata if hasattr(m, "le")), None)


def field_option(name: str, info: Any, *, prefix: str = "", given_only: bool = False, text: str | None = None) -> Any:
    """The click option of one model field (`prefix`: put before its help, e.g. the benchmark it is
    for; `text`: the help instead of the field's description). `given_only`: no default on the command line (the model's applies when the flag is not
    given; the caller passes only given values and says the default in `prefix`/help)."""
    flag = field_flag(name, info)
    ann = info.annotation
    if get_origin(ann) in (typing.Union, types.UnionType):  # Optional[X] -> X
        ann = next(a for a in get_args(ann) if a is not type(None))
    if not info.description:  # a field without one is a mistake in the model, not a command without help
        raise TypeError(f"options field {name!r} has no description: it is the option's help text")
    kw: dict[str, Any] = {"help": prefix + (text or info.description), "show_default": not given_only}
    args = get_args(ann)
    if get_origin(ann) is tuple and args and Ellipsis not in args and len(set(args)) == 1 and args[0] in (int, float):
        kw["type"] = Numbers(len(args), args[0])
        if info.default is not None and not given_only:
            kw["default"] = ",".join(str(x) for x in info.default)
        return click.option(flag, name, **kw)
    multiple = get_origin(ann) in (list, tuple)
    inner = args[0] if multiple else ann
    if inner is bool:
        on = bool(info.default)
        flags = f"{flag}/--no-{flag.removeprefix('--')}" if on else flag  # a flag that is on by default can be turned off
        return click.option(flags, name, is_flag=True, default=None if given_only else on, help=kw["help"], show_default=False)
    if get_origin(inner) is Literal:
        kw["type"] = click.Choice([str(a) for a in get_args(inner)])
    elif inner in (int, float):
        lo, hi = _bounds(info)
        kw["type"] = (click.IntRange if inner is int else click.FloatRange)(lo, hi) if lo is not None or hi is not None else inner
    if multiple:
        kw.update(multiple=True, show_default=False)
        default = None if given_only or info.is_required() else info.get_default(call_default_factory=True)
        if default:
            kw["default"] = list(default)
    elif not given_only and not info.is_required() and info.default is not None:
        kw["default"] = info.default
    else:
        kw["show_default"] = False
    return click.option(flag, name, **kw)


_SCALARS = (int, float, str, bool)


def _plain(ann: Any) -> bool:
    """A type a flag can carry: a number, text, bool, a Literal or an Enum of them."""
    return ann in _SCALARS or get_origin(ann) is Literal or (isinstance(ann, type) and issubclass(ann, enum.Enum))


def option_problems(fields: dict[str, Any], *, reserved: set[str], reserved_flags: set[str], own_flags: bool = True) -> list[str]:
    """Why these model fields cannot be options of a command that has `reserved` parameter names
    and `reserved_flags` already (empty: they can). Checked when a benchmark or a pipeline is made,
    so a mistake in a plugin is that plugin's warning, not a command that no longer starts."""
    out = []
    for name, info in fields.items():
        flag = field_flag(name, info)
        ann = info.annotation
        if get_origin(ann) in (typing.Union, types.UnionType):
            members = [a for a in get_args(ann) if a is not type(None)]
            ann = members[0] if len(members) == 1 else None
        args = get_args(ann) if ann is not None else ()
        fixed = get_origin(ann) is tuple and args and Ellipsis not in args and len(set(args)) == 1 and args[0] in (int, float)
        listed = get_origin(ann) in (list, tuple) and len(args) in (1, 2) and _plain(args[0]) and (len(args) == 1 or args[1] is Ellipsis)
        if not info.description:
            out.append(f"option {name!r} has no description (it is the flag's help text)")
        if name in reserved:
            out.append(f"option {name!r} is a name the command has already ({', '.join(sorted(reserved))})")
        if flag in reserved_flags or (not own_flags and flag != "--" + name.replace("_", "-")):
            out.append(f"option {name!r}: its flag {flag} is taken (a flag is its option's name, and not one of {', '.join(sorted(reserved_flags))})")
        if ann is None or not (_plain(ann) or fixed or listed):
            out.append(f"option {name!r}: a flag cannot carry {info.annotation} (numbers, text, bool, Literal, Enum, lists of them, fixed tuples of numbers)")
    return out
