"""Shopping/goal scripts in the CoScript JSONL format: objective → ordered steps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ..io.sources import Record, jsonl_records
from ..kb.ids import script_id, step_id
from ..kb.models import Script, Step, clean_text
from .base import Reader, loads_list
from .fields import RawRow, RawText, RequiredText

_NUMBERING = re.compile(r"^\s*(?:step\s*)?\d+\s*[.):\-]\s*", re.IGNORECASE)


@dataclass
class ScriptUnit:
    """A validated unit of work (its parts are pydantic models already; no second validation)."""

    script: Script
    steps: list[Step]

    def row(self) -> dict[str, Any]:
        props = self.script.props()
        props.pop("id")
        steps = []
        for i, s in enumerate(self.steps):
            steps.append({"id": s.id, "idx": s.idx, "text": s.text, "prev": self.steps[i - 1].id if i else None})
        return {"id": self.script.id, "props": props, "steps": steps}


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


def build_script_unit(
    objective: Any,
    steps: list[str],
    *,
    specific_goal: Any = None,
    constraint: Any = None,
    category: Any = None,
    source_id: Any = None,
    source: str | None = None,
) -> ScriptUnit:
    objective = clean_text(objective)
    if not objective:
        raise ValueError("objective: must not be empty")
    sid = script_id(objective, clean_text(specific_goal), clean_text(constraint), steps)
    script = Script(
        id=sid,
        objective=objective,
        specific_goal=specific_goal,
        constraint=constraint,
        category=category,
        source_id=None if source_id is None else str(source_id),
        source=source,
    )
    return ScriptUnit(script=script, steps=[Step(id=step_id(sid, i), idx=i, text=t) for i, t in enumerate(steps, start=1)])


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
