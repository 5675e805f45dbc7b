"""Shopping/goal scripts in the CoScript JSONL format: objective → ordered steps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from ..io.sources import Record, jsonl_records
from ..kb.models import clean_text
from ..kb.units import ScriptUnit, build_script_unit
from .base import Reader, loads_list
from .fields import RawRow, RawText, RequiredText

_NUMBERING = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):\-]\s*", re.IGNORECASE)


def split_steps(raw: Any) -> list[str]:
    """Steps as a list (numbered or not) or as one numbered text; numbering is removed."""
    if isinstance(raw, str):
        parts = [p for p in re.split(r"(?:^|\n|\s)(?=\d+\s*[.)]\s)", raw) if p.strip()]
    else:
        parts = loads_list(raw) or []
    steps = [_NUMBERING.sub("", clean_text(str(p)) or "").strip() for p in parts]
    steps = [s for s in steps if s]
    if not steps:
        raise ValueError("Script: no steps")
    return steps


class CoScriptReader(Reader[ScriptUnit]):
    kind = "scripts"
    format = "coscript"
    required = ("Abstract Goal", "Script")
    query = "ingest_scripts"

    def records(self, path: Path) -> Iterator[Record]:
        return jsonl_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> ScriptUnit:
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        r = CoScriptRow.model_validate(raw)
        return build_script_unit(
            r.goal, split_steps(r.script), specific_goal=r.specific_goal, constraint=r.constraint, category=r.category, source_id=r.id, source="coscript"
        )


class CoScriptRow(RawRow):
    goal: RequiredText = Field(alias="Abstract Goal")
    script: str | list[str] = Field(alias="Script")
    specific_goal: RawText = Field(default=None, alias="Specific Goal")
    constraint: RawText = Field(default=None, alias="Constraint")
    category: RawText = Field(default=None, alias="Category")
    id: RawText = None
