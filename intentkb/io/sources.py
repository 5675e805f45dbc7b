"""Streaming record sources (CSV, JSONL, parquet, optionally gzipped) with physical line numbers.

One decoding path for every kind: the file is read as bytes, one physical line at a time, and each
line is decoded on its own, so an undecodable byte or a NUL makes that line a reject wherever it
sits in the file. The first record is the format check: a file whose header or first record cannot
be read fails before anything is written. A file that breaks mid-way (a bad gzip CRC, a truncated
gzip, a corrupt parquet page) raises `InputBroken` naming the position; the records before it have
been yielded already, so the caller keeps and counts them.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import stat
import sys
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from ..errors import FormatError

Record = tuple[int, Any]  # (line or row number, the raw record; a BadLine for a line that did not parse)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # product descriptions can be long

MAX_LINE_BYTES = 64 << 20  # a longer physical line is one reject (memory stays bounded)
MAX_RECORD_LINES = 5000  # a quoted CSV field may span lines, but not more than these
MAX_RECORD_BYTES = 64 << 20


class BadLine(str):
    """A line that could not be parsed; the reader turns it into a reject with this text as reason."""

    reason: str

    def __new__(cls, raw: str, reason: str) -> BadLine:
        obj = super().__new__(cls, raw[:2000])
        obj.reason = reason
        return obj


class InputBroken(FormatError):
    """The file broke mid-way; what was read before `line` is valid and has been yielded."""

    def __init__(self, path: Path, line: int, reason: str, unit: str = "line") -> None:
        super().__init__(f"{path}: broken at {unit} {line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from e
    if stat.S_ISDIR(st.st_mode):
        raise FormatError(f"{path}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device would block or never end; read it into a file first.
        raise FormatError(f"{path}: not a regular file (a pipe, socket or device); save it to a file first")


def _open_binary(path: Path) -> IO[bytes]:
    _check_file(path)
    try:
        if path.suffix.lower() == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes like any IO[bytes]
        return open(path, "rb")
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from e


_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def _read_reason(e: BaseException) -> str:
    if isinstance(e, EOFError):
        return "the file ends early (truncated compressed data)"
    return str(e) or type(e).__name__


def decode_line(raw: bytes, first: bool = False) -> str | BadLine:
    """One physical line as text, or a BadLine saying which byte is wrong."""
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return BadLine(raw.decode("utf-8", "replace"), f"not UTF-8: {e.reason} at byte {e.start + 1} of the line")
    if "\x00" in text:
        return BadLine(text.replace("\x00", "\\0"), f"NUL byte at column {text.index(chr(0)) + 1} (binary content, not text)")
    return text


def physical_lines(path: Path) -> Iterator[tuple[int, str | BadLine]]:
    """(line number, decoded text with its line ending, or a BadLine) of every physical line."""
    with _open_binary(path) as fh:
        n = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES)
                if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    n += 1
                    yield n, BadLine(raw[:200].decode("utf-8", "replace"), f"line longer than {MAX_LINE_BYTES >> 20} MiB")
                    continue
            except _READ_ERRORS as e:
                raise InputBroken(path, n + 1, _read_reason(e)) from None
            if not raw:
                return
            n += 1
            yield n, decode_line(raw, first=n == 1)


def base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


# -- CSV ---------------------------------------------------------------------------------------


class _RecordTooLong(Exception):
    pass


class _Undecodable(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Feed:
    """The csv module's line source: records which physical lines the current record took, and
    takes lines back when a damaged record has to be re-read from its second line on."""

    def __init__(self, lines: Iterator[tuple[int, str | BadLine]]) -> None:
        self.src = lines
        self.back: deque[tuple[int, str | BadLine]] = deque()
        self.taken: list[tuple[int, str | BadLine]] = []
        self.size = 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES or self.size > MAX_RECORD_BYTES:
            raise _RecordTooLong
        item = self.back.popleft() if self.back else next(self.src)
        self.taken.append(item)
        text = item[1]
        if isinstance(text, BadLine):
            raise _Undecodable(text.reason)
        self.size += len(text)
        return text

    def start(self) -> None:
        self.taken, self.size = [], 0

    def retry_after_first(self) -> None:
        """Give back every line of the current record but its first."""
        self.back.extendleft(reversed(self.taken[1:]))


def _line_text(item: tuple[int, str | BadLine]) -> str:
    return str(item[1]).rstrip("\r\n")


def _csv_rows(path: Path, lines: Iterator[tuple[int, str | BadLine]]) -> Iterator[tuple[int, list[str] | BadLine]]:
    """(first line, fields or BadLine) per CSV record. A record that spans lines is taken only when
    its quoting is sound (strict parse) and it has the header's field count; otherwise its first
    line is the reject and parsing resumes on the next line, so one broken quote costs one line,
    never the good rows after it."""
    feed = _Feed(lines)
    reader = csv.reader(feed, strict=True)
    width: int | None = None
    while True:
        feed.start()
        try:
            row: list[str] | None = next(reader)
            reason = ""
        except StopIteration:
            return  # a strict reader raises csv.Error for a file that ends inside quotes
        except csv.Error as e:
            row, reason = None, f"unparseable CSV: {e}"
        except _RecordTooLong:
            row, reason = None, f"a quoted field runs on past {MAX_RECORD_LINES} lines or {MAX_RECORD_BYTES >> 20} MiB (unbalanced quote?)"
        except _Undecodable as e:
            row, reason = None, e.reason
        taken = feed.taken
        if not taken:
            return
        first_no, first = taken[0]
        if isinstance(first, BadLine):
            feed.retry_after_first()
            yield first_no, first
            continue
        if row is not None and width is not None and row and len(row) != width:
            reason, row = f"{len(row)} fields, header has {width}", None
        if row is None:
            if len(taken) > 1:
                reason += f" (in a record that starts here and runs over {len(taken)} lines: unbalanced quote?)"
            feed.retry_after_first()
            yield first_no, BadLine(_line_text(taken[0]), reason)
            continue
        if not row:
            continue  # blank lines are not records
        if width is None:
            width = len(row)
        yield first_no, row


def _first_item(path: Path, items: Iterator[tuple[int, Any]]) -> tuple[int, Any]:
    """The first line or record: a file that breaks or ends before it is no file of any format."""
    try:
        first = next(items, None)
    except InputBroken as e:
        raise FormatError(f"{path}: cannot read: {e.reason}") from None
    if first is None:
        raise FormatError(f"{path}: empty file")
    return first


def csv_header(path: Path) -> list[str]:
    return next(_csv_table(path))[1]


def _csv_table(path: Path) -> Iterator[tuple[int, Any]]:
    rows = _csv_rows(path, physical_lines(path))
    first = _first_item(path, rows)
    if isinstance(first[1], BadLine):
        raise FormatError(f"{path}:{first[0]}: not a CSV header: {first[1].reason}")
    yield first
    yield from rows


def csv_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """Dict rows keyed by header; the number is the file line where the row starts."""
    rows = _csv_table(path)
    _, header = next(rows)
    missing = [c for c in required if c not in header]
    if missing:
        raise FormatError(f"{path}: not this format: missing columns {missing} (has {header[:12]})")
    for line, row in rows:
        yield line, row if isinstance(row, BadLine) else dict(zip(header, row))


# -- JSON Lines --------------------------------------------------------------------------------


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


# -- parquet -----------------------------------------------------------------------------------


def parquet_records(path: Path, required: Iterable[str], batch_rows: int = 8192) -> Iterator[Record]:
    """Rows of a parquet file, read one record batch at a time (constant memory); numbered from 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_file(path)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as e:  # pyarrow raises ArrowInvalid (a ValueError) on non-parquet
        raise FormatError(f"{path}: not a readable parquet file: {e}") from e
    names = pf.schema_arrow.names
    missing = [c for c in required if c not in names]
    if missing:
        raise FormatError(f"{path}: not this format: missing columns {missing} (has {names[:12]})")
    n = 0
    for group in range(pf.num_row_groups):  # batch by batch inside each row group: a damaged
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[group])  # group costs only itself
        while True:
            try:
                batch = next(batches, None)
                rows = batch.to_pylist() if batch is not None else None
            except (OSError, ValueError, pa.ArrowException) as e:
                if n == 0:
                    raise FormatError(f"{path}: not a readable parquet file: {e}") from None
                raise InputBroken(path, n + 1, str(e).strip().replace("\n", " "), unit="row") from None
            if rows is None:
                break
            for row in rows:
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
