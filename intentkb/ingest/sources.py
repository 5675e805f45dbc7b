"""Streaming record sources (CSV, JSONL, parquet, optionally gzipped) with line numbers.

Each source checks the file before yielding anything, so an unreadable file or a wrong format
fails fast with nothing written; later damage is per-row and goes to the rejects file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import FormatError

Record = tuple[int, Any]  # (line or row number, the raw record; a str for a line that did not parse)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # product descriptions can be long


class BadLine(str):
    """A line that could not be parsed; the reader turns it into a reject with this text as reason."""

    reason: str

    def __new__(cls, raw: str, reason: str) -> "BadLine":
        obj = super().__new__(cls, raw)
        obj.reason = reason
        return obj


def _open_text(path: Path) -> IO[str]:
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a file")
    try:
        raw: IO[bytes] = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
        head = raw.read(65536)
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from e
    if b"\x00" in head:
        raise FormatError(f"{path}: binary content, expected UTF-8 text")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    raw.seek(0)
    # Later undecodable bytes become U+FFFD rather than aborting a half-done load.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def csv_header(path: Path) -> list[str]:
    with _open_text(path) as fh:
        try:
            return next(csv.reader(fh))
        except StopIteration:
            raise FormatError(f"{path}: empty file") from None
        except csv.Error as e:
            raise FormatError(f"{path}: not CSV: {e}") from e


def csv_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """Dict rows keyed by header; the number is the file line where the row starts."""
    fh = _open_text(path)
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise FormatError(f"{path}: empty file") from None
        except csv.Error as e:
            raise FormatError(f"{path}: not CSV: {e}") from e
        missing = [c for c in required if c not in header]
        if missing:
            raise FormatError(f"{path}: not this format: missing columns {missing} (has {header[:12]})")
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield line, BadLine("", f"unparseable CSV: {e}")
                line = reader.line_num + 1
                continue
            if row:  # blank lines are not records
                if len(row) != len(header):
                    yield line, BadLine(",".join(row)[:2000], f"{len(row)} fields, header has {len(header)}")
                else:
                    yield line, dict(zip(header, row))
            line = reader.line_num + 1


def jsonl_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """One JSON object a line; a whole-file JSON array is accepted too (CoScript ships both)."""
    required = list(required)
    fh = _open_text(path)
    with fh:
        first_checked = False
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            if not first_checked:
                first_checked = True
                if text.startswith("["):
                    yield from _json_array(path, fh, line, required)
                    return
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise FormatError(f"{path}:{lineno}: not JSON Lines: {e.msg}") from e
                _check_keys(path, lineno, obj, required)
                yield lineno, obj
                continue
            yield lineno, parse_json_line(text)
        if not first_checked:
            raise FormatError(f"{path}: empty file")


def parse_json_line(text: str) -> Any:
    """The value of one JSON Lines line, or a BadLine saying why it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        return BadLine(text[:2000], f"invalid JSON: {e.msg} at column {e.colno}")


def jsonl_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-empty lines, unparsed: for loaders that parse in worker
    processes. The caller has run the format checks (`jsonl_records`) on the first record."""
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if text:
                yield lineno, text


def _check_keys(path: Path, lineno: int, obj: Any, required: list[str]) -> None:
    if not isinstance(obj, dict):
        raise FormatError(f"{path}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise FormatError(f"{path}:{lineno}: not this format: missing keys {missing} (has {list(obj)[:12]})")


def _json_array(path: Path, fh: IO[str], first: str, required: list[str]) -> Iterator[Record]:
    try:
        items = json.loads(first + fh.read())
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: not JSON: {e.msg} at line {e.lineno}") from e
    if items:
        _check_keys(path, 1, items[0], required)
    for i, obj in enumerate(items, start=1):
        yield i, obj


def parquet_records(path: Path, required: Iterable[str], batch_rows: int = 8192) -> Iterator[Record]:
    """Rows of a parquet file, read one record batch at a time (constant memory); numbered from 1."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) on non-parquet
        raise FormatError(f"{path}: not a readable parquet file: {e}") from e
    names = pf.schema_arrow.names
    missing = [c for c in required if c not in names]
    if missing:
        raise FormatError(f"{path}: not this format: missing columns {missing} (has {names[:12]})")
    n = 0
    for batch in pf.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def table_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """CSV or parquet by the file's suffix."""
    required = list(required)
    if base_suffix(path) == ".parquet":
        return parquet_records(path, required)
    return csv_records(path, required)


def jsonl_dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
