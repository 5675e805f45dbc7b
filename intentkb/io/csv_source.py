"""CSV records as the CSV dialect defines them, found on the raw bytes before anything is decoded.

Why bytes first: a record whose first line held an undecodable byte used to be rejected line by
line, so the text inside its quoted field was read as records of its own (a product title could
load a made-up product) and one 10-record latin-1 file counted 68 "records". Here the record
boundaries are found by the excel dialect's own state machine (the one Python's csv module runs,
in its lenient form) on the bytes: `"`, `,` and newline are single bytes in UTF-8 and in every
ASCII-compatible encoding, so the boundaries do not depend on decoding. Each record is then
decoded whole, parsed strictly, and accepted or rejected whole (quoted newlines included), with
the reason and the line it starts on; fields longer than MAX_FIELD_CHARS are rejects too.

The one place a boundary is a guess: a quote that is still open at the end of the file (the
dialect never closes it). That record's first line is the reject, and the lines after it are read
again as records, so one broken quote costs one line, not the rest of the file. A record longer
than MAX_RECORD_BYTES is still followed to its end (nothing more of it is kept) and rejected whole.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import FormatError
from .lines import _READ_ERRORS, MAX_RECORD_BYTES, BadLine, InputBroken, Record, _first_item, _open_binary, _read_reason

MAX_FIELD_CHARS = 1 << 20  # a field longer than this (1 Mi characters) makes its record a reject
_PIECE = 1 << 20  # bytes read at a time: a longer line arrives in pieces, never whole
_MAX_GUESSES = 1_000_000  # places with broken quoting before the file is given up as broken
_BROKEN = "unparseable CSV"

# States of the dialect's state machine that matter for where a record ends.
_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)
NL = b"\n"
_LINES = re.compile(rb"[^\n]*\n|[^\n]+\Z")
# A line that is a whole, well-formed record on its own (quoted fields closed on it): no need to
# run the state machine over it.
_ONE_LINE = re.compile(rb'(?:[^",\r\n]*|"[^"]*(?:""[^"]*)*")(?:,(?:[^",\r\n]*|"[^"]*(?:""[^"]*)*"))*\r?\n\Z')


def _scan(piece: bytes, state: int) -> int:
    """The state after `piece` (its line ending left out), from `state`. Python's csv module in
    its lenient form: a quote opens a quoted field only at a field's start, `""` inside one is a
    quote, and anything after a closing quote other than `,` goes on as an unquoted field. The
    searches run in C; Python steps once per field and per quote."""
    end = len(piece) - (2 if piece.endswith(b"\r\n") else 1 if piece.endswith(b"\n") else 0)
    i = 0
    while i < end:
        if state == _QUOTED:
            j = piece.find(b'"', i, end)
            if j < 0:
                return _QUOTED
            state, i = _QUOTE_IN_QUOTED, j + 1
        elif state == _FIELD:
            j = piece.find(b",", i, end)
            if j < 0:
                return _FIELD
            state, i = _START, j + 1
        else:
            c = piece[i]  # at a field's start, or just after a quote inside a quoted field
            if c == 0x22:  # a quote opens the field, or is the second of a doubled quote
                state, i = _QUOTED, i + 1
            elif c == 0x2C:
                state, i = _START, i + 1
            else:
                state = _FIELD  # not advanced: the _FIELD branch finds the next comma
    return state


@dataclass(slots=True)
class _Raw:
    line: int  # the physical line the record starts on
    data: bytes | None  # the record's bytes (None: too long, not kept)
    lines: int  # physical lines it spans
    open_at_end: bool = False  # a quote still open at the end of the file


class _Scanner:
    """The records of `path` as the dialect bounds them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[_Raw]:
        self.at = 1  # the line being read (for a file that breaks mid-way)
        try:
            with _open_binary(self.path) as fh:
                yield from self._records(fh)
        except _READ_ERRORS as e:
            raise InputBroken(self.path, self.at, _read_reason(e)) from None

    def _records(self, fh: IO[bytes]) -> Iterator[_Raw]:
        """A piece is a whole line or, for a line longer than _PIECE, a part of one (the rest
        follows); a record longer than MAX_RECORD_BYTES is followed to its end but not kept."""
        readline, one_line = fh.readline, _ONE_LINE.match
        buf: list[bytes] = []
        state, begin, size, kept, line, ends = _START, 0, 0, True, 1, True
        while piece := readline(_PIECE):
            ends = piece[-1:] == NL
            if not size:
                begin = line
                if ends and (b'"' not in piece or one_line(piece)):
                    line += 1
                    self.at = line
                    yield _Raw(begin, piece, 1)  # the common case: a whole record on one line
                    continue
            state = _scan(piece, state)
            size += len(piece)
            if kept:
                buf.append(piece)
                if size > MAX_RECORD_BYTES:
                    kept, buf = False, []
            if not ends:
                continue
            line += 1
            self.at = line
            if state != _QUOTED:
                yield _Raw(begin, b"".join(buf) if kept else None, line - begin)
                buf, state, size, kept = [], _START, 0, True
        if size:  # the last record has no line ending, or its quote never closed
            yield _Raw(begin, b"".join(buf) if kept else None, line - begin + (not ends), open_at_end=state == _QUOTED)


def _decode(raw: _Raw, is_first: bool) -> str | BadLine:
    data = raw.data or b""
    if is_first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    where = f" (a record of {raw.lines} lines)" if raw.lines > 1 else ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = f"line {raw.line + data.count(NL, 0, e.start)}, " if raw.lines > 1 else ""
        return BadLine(data.decode("utf-8", "replace"), f"not UTF-8: {e.reason} at {line}byte {e.start - line_start + 1} of the line{where}; skipped whole")
    if "\x00" in text:
        return BadLine(text.replace("\x00", "\\0"), f"NUL byte at character {text.index(chr(0)) + 1} of the record (binary content, not text){where}")
    return text


class _Feed:
    """The one input of a strict csv.reader: one record's text at a time (the reader starts afresh
    on each call, so a record it refused leaves nothing behind)."""

    text: str | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        text, self.text = self.text, None
        if text is None:
            raise StopIteration  # a strict reader that wants more than the record says so: csv.Error
        return text


class _Parser:
    """Fields of one record at a time, with the width the header set."""

    def __init__(self) -> None:
        self.feed = _Feed()
        self.reader = csv.reader(self.feed, strict=True)
        self.width: int | None = None

    def parse(self, raw: _Raw) -> list[str] | BadLine | None:
        """One record's fields, a BadLine saying why it is rejected whole, or None for a blank line."""
        if raw.data is None:
            return BadLine("", f"a record of more than {MAX_RECORD_BYTES >> 20} MiB over {raw.lines} lines; skipped whole")
        text = _decode(raw, raw.line == 1)
        if isinstance(text, BadLine):
            return text
        body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
        if not body.strip("\r"):
            return None
        self.feed.text = body
        try:
            row = next(self.reader)
        except (csv.Error, StopIteration) as e:
            return BadLine(text, f"{_BROKEN}: {e or 'no record'}")
        if self.width is None:
            self.width = len(row)
        elif len(row) != self.width:
            return BadLine(text, f"{len(row)} fields, header has {self.width}")
        if len(body) > MAX_FIELD_CHARS:
            for i, field in enumerate(row, start=1):
                if len(field) > MAX_FIELD_CHARS:
                    return BadLine(text[:2000], f"field {i} has {len(field):,} characters, the limit is {MAX_FIELD_CHARS:,}; the record is skipped")
        return row


class _Doubt:
    """After broken quoting, the reading that restarts on the line after the break. The dialect
    continues one way (its quote state carried on), this reading another (the break confined to
    its line); until both put a record boundary at the same line end, a line may be a record or
    text inside a quoted field, so nothing there is loaded."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.state = _START

    def feed(self, data: bytes | None) -> bool:
        """Run this reading over a record's lines; True when it, too, ends a record there."""
        if data is None:
            return False
        for piece in _LINES.findall(data):
            self.state = _scan(piece, self.state)
            if piece[-1:] == NL and self.state != _QUOTED:
                self.state = _START
        return self.state == _START


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str] | BadLine]]:
    """(first line, fields or BadLine) per CSV record. Records are what the dialect's quoting says;
    where the quoting is broken, nothing is loaded until the two readings of the file agree again
    (`_Doubt`): a line there may be text inside someone's quoted field, and loading it would make
    up a record (both ways of resuming were tried and each loaded one: tests/io/test_csv_records.py)."""
    parser = _Parser()
    doubt: _Doubt | None = None
    for raw in _Scanner(path):
        first = (raw.data or b"").split(NL, 1)[0].decode("utf-8", "replace")
        if raw.open_at_end:
            after = (
                f"the {raw.lines - 1:,} line(s) after it belong to that field by the CSV rules, so none is loaded"
                if raw.lines > 1
                else "the file ends inside it"
            )
            yield raw.line, BadLine(first, f"a quote opened on this line is never closed: {after}; close the quote and load the file again")
            continue
        if doubt is not None:
            synced = doubt.feed(raw.data)
            if (raw.data or b"").strip():
                yield raw.line, BadLine(first, f"after the broken quoting on line {doubt.line}, this could be text inside a quoted field: not loaded")
            if synced:
                doubt = None
            continue
        row = parser.parse(raw)
        if isinstance(row, BadLine) and row.reason.startswith(_BROKEN) and raw.lines > 1 and raw.data is not None:
            doubt = _Doubt(raw.line)
            if doubt.feed(_LINES.sub(b"", raw.data, count=1)):
                doubt = None  # the other reading ends a record here too: certain again from the next line
            row = BadLine(row, f"{row.reason} (a record of {raw.lines} lines as its quotes run; skipped whole)")
        if row is not None:
            yield raw.line, row


def csv_header(path: Path) -> list[str]:
    return next(_csv_table(path))[1]


def _csv_table(path: Path) -> Iterator[tuple[int, Any]]:
    rows = _csv_rows(path)
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
