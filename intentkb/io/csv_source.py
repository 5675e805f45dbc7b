"""CSV records with physical line numbers: a quoted field may span lines (bounded), a line that
cannot be decoded is a reject of its own."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import FormatError
from .lines import MAX_RECORD_BYTES, MAX_RECORD_LINES, BadLine, Record, _first_item, physical_lines


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
