"""LLaMA-Factory's `dataset_info.json`: one file per data directory naming every dataset in it.

intentkb writes its entries into it and keeps every other one, so a `tasks export` and an
`export knowledge` (or two benchmarks) into the same directory are all seen by LLaMA-Factory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import IntentKBError


def merge_dataset_info(directory: Path, entries: dict[str, dict[str, Any]]) -> Path:
    """Add or replace `entries` in the directory's dataset_info.json, keeping every other dataset."""
    path = directory / "dataset_info.json"
    info: dict[str, Any] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise IntentKBError(f"{path} is not JSON ({e}): fix or remove it; intentkb merges its entries into it") from None
        if not isinstance(info, dict):
            raise IntentKBError(f"{path} is not a JSON object of datasets")
    info.update(entries)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
