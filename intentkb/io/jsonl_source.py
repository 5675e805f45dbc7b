"""JSON Lines records (and a JSON array, streamed) with line numbers; the first records decide
whether the file is the format asked for."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ..errors import FormatError
from .lines import BadLine, Record, _first_item, physical_lines


def parse_json_line(text: str) -> Any:
    """The value of one JSON Lines line, or a BadLine saying why it is not JSON. orjson refuses
    NaN/Infinity (not JSON) and nesting deeper than 1024 instead of overflowing the stack."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        msg = str(e.msg) if hasattr(e, "msg") else str(e)
        where = f" at column {e.colno}" if getattr(e, "colno", None) else ""
        return BadLine(text, f"invalid JSON: {msg}{where}")


def jsonl_lines(path: Path) -> Iterator[tuple[int, str | BadLine]]:
    """(line number, stripped text or BadLine) of the non-empty lines, unparsed: `jsonl_records`
    parses them here, the bulk tree path in worker processes (after `jsonl_records`' format check)."""
    for n, text in physical_lines(path):
        if isinstance(text, BadLine):
            yield n, text
        elif stripped := text.strip():
            yield n, stripped


FORMAT_PROBE = 100  # records read ahead to decide whether a file is the format asked for


def jsonl_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """One JSON object a line; a whole-file JSON array is accepted too (CoScript ships both).

    The format check: among the first records, one must be a JSON object with the required keys;
    otherwise the file fails before anything is written. Every other line that is not JSON, or
    not decodable, is a reject where it stands, the first line like any other."""
    required = list(required)
    lines = jsonl_lines(path)
    first = _first_item(path, lines)
    if not isinstance(first[1], BadLine) and first[1].startswith("[") and _is_array_start(first[1]):
        try:
            yield from _json_array(path, first[1], lines, required)
            return
        except _NotAnArray:
            lines = jsonl_lines(path)  # not a JSON array after all: JSON Lines from the top
            first = next(lines)
    head: list[Record] = []
    found = False
    for lineno, text in itertools.chain([first], lines):
        obj = text if isinstance(text, BadLine) else parse_json_line(text)
        head.append((lineno, obj))
        if isinstance(obj, dict) and all(k in obj for k in required):
            found = True
            break
        if len(head) >= FORMAT_PROBE:
            break
    if not found:
        _refuse(path, head, required)
    yield from head
    for lineno, text in lines:
        yield lineno, text if isinstance(text, BadLine) else parse_json_line(text)


def _is_array_start(line: str) -> bool:
    """`[` opening a whole-file array: the line alone is not JSON, or is a list of objects."""
    value = parse_json_line(line)
    return isinstance(value, BadLine) or (isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


class _NotAnArray(Exception):
    pass


def is_json_array(path: Path) -> bool:
    """Whether `jsonl_records` reads this file as one JSON array (the bulk path reads lines only)."""
    lines = jsonl_lines(path)
    first = next(lines, None)
    if first is None or isinstance(first[1], BadLine) or not first[1].startswith("[") or not _is_array_start(first[1]):
        return False
    try:
        next(_json_array(path, first[1], lines, []), None)
        return True
    except _NotAnArray:
        return False


def _refuse(path: Path, head: list[Record], required: list[str]) -> None:
    """No record among the first ones is of the format: say why, from the first that parsed."""
    parsed = [(n, obj) for n, obj in head if not isinstance(obj, BadLine)]
    if not parsed:
        n, bad = head[0]
        raise FormatError(f"{path}:{n}: not JSON Lines: {bad.reason}")
    n, obj = parsed[0]
    _check_keys(path, n, obj, required)
    raise FormatError(f"{path}: not this format: no record among the first {len(head)} has the keys {required}")


def _check_keys(path: Path, lineno: int, obj: Any, required: list[str]) -> None:
    if not isinstance(obj, dict):
        raise FormatError(f"{path}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise FormatError(f"{path}:{lineno}: not this format: missing keys {missing} (has {list(obj)[:12]})")


def _json_array(path: Path, first: str, rest: Iterator[tuple[int, str | BadLine]], required: list[str]) -> Iterator[Record]:
    parts = [first]
    for _, text in rest:
        if isinstance(text, BadLine):
            raise _NotAnArray
        parts.append(text)
    try:
        items = orjson.loads("\n".join(parts))
    except orjson.JSONDecodeError:
        raise _NotAnArray from None
    if not isinstance(items, list):
        raise _NotAnArray
    if items:
        _check_keys(path, 1, items[0], required)
    yield from enumerate(items, start=1)


def jsonl_dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
