"""Physical lines of a file (optionally gzipped), each decoded on its own: the one reading path of
every source, so an undecodable byte or a NUL makes that line a reject wherever it sits."""

from __future__ import annotations

import csv
import gzip
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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

    def __init__(self, path: Path, line: int, reason: str, where: str = "line") -> None:
        super().__init__(f"{path}: broken at {where} {line}: {reason}")
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


def _first_item(path: Path, items: Iterator[tuple[int, Any]]) -> tuple[int, Any]:
    """The first line or record: a file that breaks or ends before it is no file of any format."""
    try:
        first = next(items, None)
    except InputBroken as e:
        raise FormatError(f"{path}: cannot read: {e.reason}") from None
    if first is None:
        raise FormatError(f"{path}: empty file")
    return first
