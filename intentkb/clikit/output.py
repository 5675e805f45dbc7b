"""What a command prints: rows as a table, JSON or CSV; a report as its line or as JSON. One
`--format` option (table|json) for every command that prints a report."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "csv")
REPORT_FORMATS = ("table", "json")


def print_format(f: Any) -> Any:
    """`--format table|json` for a command that prints rows or a status (it receives `fmt`)."""
    return click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True, help="Print as text (table) or as JSON.")(f)


def _cell(v: Any, width: int | None) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    text = text.replace("\n", " ")
    if width and len(text) > width:
        cut = text[: width - 1]
        space = cut.rfind(" ")
        if space >= width // 2:  # at a word boundary, unless that throws away half the cell
            cut = cut[:space]
        text = cut.rstrip(" ,;:-") + "…"
    return text


def columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def emit(rows: Iterable[dict[str, Any]], fmt: str, *, width: int = 60) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    rows = list(rows)
    cols = columns(rows)
    if fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else _cell(r.get(c), None) for c in cols])
        return
    if not rows:
        click.echo("(no rows)")
        return
    cells = [[_cell(r.get(c), width) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(widths[i]) for i, c in enumerate(cols)))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)))
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def emit_jsonl(rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    for r in rows:
        click.echo(json.dumps(r, ensure_ascii=False, default=str))
        n += 1
    return n


def report_format(f: Any = None, *, moved: tuple[str, Sequence[str] | click.Choice] | None = None) -> Any:
    """`--format table|json` for a command that prints a report: the one output option of every
    command. The command receives `as_json`; `--json` is kept, hidden, for scripts written before.

    `moved=(OPTION, VALUES)`: `--format` once took VALUES (the files an export writes); such a value
    now gets an error that names OPTION instead of a bare "not one of table, json"."""
    import functools

    def decorate(f: Any) -> Any:
        @functools.wraps(f)
        def wrapper(*args: Any, out_format: str, as_json: bool, **kw: Any) -> Any:
            return f(*args, as_json=as_json or out_format == "json", **kw)

        def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
            if value in ("table", "json"):
                return value
            if moved and value in (moved[1].choices if isinstance(moved[1], click.Choice) else moved[1]):
                raise click.BadParameter(f"{value!r} is a file format: give it as {moved[0]} {value} (--format is now the printed report's: table or json)")
            raise click.BadParameter(f"{value!r} is not one of 'table', 'json'")

        wrapper = click.option("--json", "as_json", is_flag=True, hidden=True, help="Same as --format json.")(wrapper)
        return click.option(
            "--format",
            "out_format",
            type=click.Choice(REPORT_FORMATS) if moved is None else str,
            callback=None if moved is None else check,
            default="table",
            show_default=True,
            metavar="[table|json]",
            help="Print the report as text (table) or as JSON.",
        )(wrapper)

    return decorate(f) if f is not None else decorate


def print_report(report: Any, as_json: bool, *, text: str | None = None) -> None:
    """A report (a pydantic model, or a list of them) as JSON, or as its own text (`lines()`, else
    `line()`; `text` when given): the one way commands print what they did."""
    if as_json:
        if isinstance(report, list):
            click.echo(json.dumps([r.model_dump(mode="json") if hasattr(r, "model_dump") else r for r in report], indent=2, ensure_ascii=False, default=str))
        elif hasattr(report, "model_dump_json"):
            click.echo(report.model_dump_json(indent=2))
        else:
            click.echo(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        return
    if text is not None:
        click.echo(text)
        return
    for r in report if isinstance(report, list) else [report]:
        for line in r.lines() if hasattr(r, "lines") else [r.line() if hasattr(r, "line") else str(r)]:
            click.echo(line)
