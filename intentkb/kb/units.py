"""Units: validated graph content ready to write (a script with its steps, a session's tree…), the
one meaning of "unit" in intentkb. The file readers (`ingest`) and the generation pipelines
(`generate`) build them from plain values, so the same script gets the same ids whichever made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ids import script_id, step_id
from .models import Script, Step, clean_text


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
