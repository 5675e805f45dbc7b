"""Output paths given by users: one clear error before any work, never a silent `mkdir -p`."""

from __future__ import annotations

from pathlib import Path

from ..errors import IntentKBError


def check_output(path: Path, *, directory: bool) -> None:
    """An output path that cannot be written is one clear error before any work: its folder must
    exist (no silent `mkdir -p` of a mistyped path), a directory format cannot write into a file,
    and a file is written only to a path that is none or a regular file (a FIFO would block the
    command, a device swallow or refuse the output)."""
    if not path.parent.exists():
        raise IntentKBError(f"{path.parent} does not exist: create it first, or give another path")
    if not directory and path.exists() and not path.is_dir() and not path.is_file():
        raise IntentKBError(f"{path} is not a regular file (a pipe, socket or device): give a file path")
    if directory and path.exists() and not path.is_dir():
        raise IntentKBError(f"{path} is a file; this format writes a directory of files: give a directory for -o")
    if not directory and path.is_dir():
        raise IntentKBError(f"{path} is a directory; this format writes one file: give a file name for -o")
