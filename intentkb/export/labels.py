"""Gold labels joined onto items by id: the output of `annotations import` (positive/negative with
the annotators' answer counts) or any {id, label} lines with the option letter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..io.rejects import RejectSink, user_rejects_path, validated
from ..io.sources import jsonl_records
from ..kb.models import Text
from ..tasks.items import Item


class GoldRow(BaseModel):
    """A gold label: a row of `annotations import` (label positive/negative, with answer counts) or
    any {id, label} line with the option letter."""

    model_config = ConfigDict(extra="ignore")

    id: Text
    label: Text
    agreement: str | None = None
    answers: dict[str, int] | None = None


def load_labels(path: Path, echo: Callable[[str], None] | None = None) -> tuple[dict[str, dict[str, Any]], int]:
    """(id -> gold row, rows rejected); bad rows go to PATH.labels.rejects.jsonl with line and reason."""
    gold: dict[str, dict[str, Any]] = {}
    sink = RejectSink(user_rejects_path(path, "labels"), path, echo)
    try:
        for _, row, _ in validated(jsonl_records(path, ()), GoldRow, sink):
            gold[row.id] = row.model_dump(exclude_none=True)
    finally:
        sink.close()
    return gold, sink.count


def gold_letter(row: dict[str, Any], item: Item) -> str | None:
    label = str(row["label"]).strip()
    if label.upper() in item["options"]:
        return label.upper()
    if label.lower() in ("positive", "negative") and item.get("positive"):
        pos = set(item["positive"])
        side = [k for k in item["options"] if (k in pos) == (label.lower() == "positive")]
        answers = row.get("answers") or {}
        return max(side, key=lambda k: (answers.get(k, 0), -side.index(k)))
    return None


def attach_label(item: Item, row: dict[str, Any]) -> bool:
    """Set the item's label from its gold row; False when the row's label fits none of its options."""
    letter = gold_letter(row, item)
    if letter is None:
        return False
    item["label"] = letter
    item["gold"] = {k: row[k] for k in ("label", "agreement", "answers") if k in row}
    return True
