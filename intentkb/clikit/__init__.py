"""Click helpers shared by the CLI and by the engines' own commands (kb/<engine>/cli.py)."""

from .options import LazyChoice, comma_list, settings_of
from .output import FORMATS, REPORT_FORMATS, columns, emit, emit_jsonl, print_format, print_report, report_format

__all__ = [
    "FORMATS",
    "REPORT_FORMATS",
    "LazyChoice",
    "columns",
    "comma_list",
    "emit",
    "emit_jsonl",
    "print_format",
    "print_report",
    "report_format",
    "settings_of",
]
