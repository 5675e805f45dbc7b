"""A benchmark item, the one shape every builder yields and every exporter, annotator and evaluator reads.

Builders yield plain dicts (millions of them at paper scale: a pydantic model per item would cost
more than the rest of the export); `TaskItem` validates them where they come back in from a file.

    {"id": "sib-t1:<intention id>", "benchmark": "sib", "task": "sib-t1",
     "inputs": {...what the prompt template needs...},
     "options": {"A": "Yes", "B": "Maybe yes", "C": "Maybe no", "D": "No"},
     "label": null | "A", "positive": ["A", "B"] | null,
     "group": "<session / script / pair the item comes from: the unit of the train/test split>",
     "provenance": {"query": "trajectories", "nodes": [ids of the graph nodes the item is made of]}}

Ids are made of the graph ids the question depends on, so the same question built twice (from two
trajectories sharing a prefix, or in two exports) has the same id and a gold label follows it.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import IntentKBError
from ..kb.models import Text

Item = dict[str, Any]

# Each benchmark's tasks, with what it asks: `tasks export --task` takes the number.
TASKS: dict[str, dict[str, str]] = {
    "sib": {
        "sib-t1": "intent-based purchase likelihood: history, intention I(t-1), masked product P(t)",
        "sib-t2": "purchase likelihood via the valued attribute A(t-1)",
        "sib-t3": "intention justification by the comparison C(t) of P(t-1) and P(t)",
        "sib-t4": "intention evolution: same category / other features / other category after I(t)",
    },
    "esb": {
        "esb-t1": "script verification: real script or one with swapped, shuffled or foreign steps",
        "esb-t2": "step-product discrimination: aligned product or a similar unaligned one",
        "esb-t3": "script-products verification: a product per step, all aligned or one replaced",
    },
    "iqa": {
        "iqa-t1": "intention understanding: co-bought pair -> its intention among 4",
        "iqa-t2": "intention utilization: product + intention -> the co-bought product among 4",
    },
}

# The answer scales (SessionIntentBench Table 8): letter -> the short name shown with the option.
LIKELIHOOD = {"A": "Yes", "B": "Maybe yes", "C": "Maybe no", "D": "No"}
EVOLUTION = {"A": "Same category", "B": "Same category, different features", "C": "Other category"}
YES_NO = {"A": "Yes", "B": "No"}
# SessionIntentBench's binary reading of its scales (§5, appendix C): T1-T3 A/B positive, T4 A.
POSITIVE_LIKELIHOOD = ["A", "B"]
POSITIVE_EVOLUTION = ["A"]


def task_names(benchmark: str, numbers: tuple[int, ...] | list[int] = ()) -> list[str]:
    names = list(TASKS[benchmark])
    if not numbers:
        return names
    wanted = [f"{benchmark}-t{n}" for n in numbers]
    unknown = [w for w in wanted if w not in TASKS[benchmark]]
    if unknown:
        raise IntentKBError(f"{benchmark} has tasks {', '.join(names)}; no {', '.join(unknown)}")
    return wanted


def product_ref(pid: str, title: str | None, image: str | None = None) -> dict[str, Any]:
    """A product as items show it: id, title (the id when untitled) and, when known, its first image."""
    return {"id": pid, "title": title or pid, **({"image": image} if image else {})}


def short_hash(*parts: str, n: int = 16) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:n]


def seeded(seed: int, *key: str) -> random.Random:
    """A generator that depends only on the seed and the item: the same export gives the same items
    whatever else the graph holds or the order pages come in."""
    return random.Random(int(short_hash(str(seed), *key), 16))


def make_item(
    task: str,
    key: str,
    inputs: dict[str, Any],
    options: dict[str, str],
    *,
    label: str | None,
    group: str,
    query: str,
    nodes: list[str],
    positive: list[str] | None = None,
    **provenance: Any,
) -> Item:
    benchmark = task.split("-", 1)[0]
    return {
        "id": f"{task}:{key}",
        "benchmark": benchmark,
        "task": task,
        "inputs": inputs,
        "options": options,
        "label": label,
        "positive": positive,
        "group": group,
        "provenance": {"query": query, "nodes": nodes, **provenance},
    }


class Provenance(BaseModel):
    model_config = ConfigDict(extra="allow")

    query: Text
    nodes: list[str] = Field(default_factory=list)


class TaskItem(BaseModel):
    """An item read back from an exported JSONL file (for `eval run`)."""

    model_config = ConfigDict(extra="ignore")

    id: Text
    benchmark: Literal["sib", "esb", "iqa"]
    task: Text
    inputs: dict[str, Any]
    options: dict[str, Text] = Field(min_length=2)
    label: str | None = None
    positive: list[str] | None = None
    group: Text
    provenance: Provenance
    split: Literal["train", "test"] | None = None  # as `tasks export` wrote it

    @model_validator(mode="after")
    def _consistent(self) -> TaskItem:
        if self.task not in TASKS[self.benchmark]:
            raise ValueError(f"task {self.task!r} is not one of {self.benchmark}'s ({', '.join(TASKS[self.benchmark])})")
        if self.label is not None and self.label not in self.options:
            raise ValueError(f"label {self.label!r} is not one of the options {sorted(self.options)}")
        return self
