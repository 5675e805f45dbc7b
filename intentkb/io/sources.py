"""Streaming record sources (CSV, JSONL, parquet, optionally gzipped) with physical line numbers.

One decoding path for every kind (`lines.py`): the file is read as bytes, one physical line at a
time, and each line is decoded on its own, so an undecodable byte or a NUL makes that line a reject
wherever it sits in the file. The first record is the format check: a file whose header or first
record cannot be read fails before anything is written. A file that breaks mid-way (a bad gzip CRC,
a truncated gzip, a corrupt parquet page) raises `InputBroken` naming the position; the records
before it have been yielded already, so the caller keeps and counts them. This module is the face:
the readers of each format live beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from .csv_source import csv_header, csv_records
from .jsonl_source import FORMAT_PROBE, is_json_array, jsonl_dump, jsonl_lines, jsonl_records, parse_json_line
from .lines import MAX_LINE_BYTES, MAX_RECORD_BYTES, MAX_RECORD_LINES, BadLine, InputBroken, Record, base_suffix, decode_line, physical_lines
from .parquet_source import parquet_records

__all__ = [
    "FORMAT_PROBE",
    "MAX_LINE_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_RECORD_LINES",
    "BadLine",
    "InputBroken",
    "Record",
    "base_suffix",
    "csv_header",
    "csv_records",
    "decode_line",
    "is_json_array",
    "jsonl_dump",
    "jsonl_lines",
    "jsonl_records",
    "parquet_records",
    "parse_json_line",
    "physical_lines",
    "table_records",
]


def table_records(path: Path, required: Iterable[str]) -> Iterator[Record]:
    """CSV or parquet by the file's suffix."""
    required = list(required)
    if base_suffix(path) == ".parquet":
        return parquet_records(path, required)
    return csv_records(path, required)
