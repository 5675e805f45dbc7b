"""Rows → table, JSON or CSV on stdout."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from typing import Any

import click

FORMATS = ("table", "json", "csv")


def _cell(v: Any, width: int | None) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    text = text.replace("\n", " ")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
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
