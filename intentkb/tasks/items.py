"""A benchmark item, the one shape every builder yields and every exporter, annotator and evaluator reads.

Builders yield plain dicts (millions of them at paper scale: a pydantic model per item would cost
more than the rest of the export); `TaskItem` validates them where they come back in from a file.

    {"id": "sib-t1:<intention id>", "benchmark": "sib", "task": "sib-t1",
     "inputs": {...what the prompt template needs...},
     "options": {"A": "Yes", "B": "Maybe yes", "C": "Maybe no", "D": "No"},
     "label": null | "A", "positive": ["A", "B"] | null,
     "group": "<session / script / pair the item comes from: what the train/test split keeps together>",
     "provenance": {"query": "trajectories", "nodes": [ids of the graph nodes the item is made of]}}

Ids are made of the graph ids the question depends on, so the same question built twice (from two
trajectories sharing a prefix, or in two exports) has the same id and a gold label follows it.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..kb.models import Text
from .registry import benchmarks

Item = dict[str, Any]

# The answer scales (SessionIntentBench Table 8): letter -> the short name shown with the option.
LIKELIHOOD = {"A": "Yes", "B": "Maybe yes", "C": "Maybe no", "D": "No"}
EVOLUTION = {"A": "Same category", "B": "Same category, different features", "C": "Other category"}
YES_NO = {"A": "Yes", "B": "No"}
# SessionIntentBench's binary reading of its scales (§5, appendix C): T1-T3 A/B positive, T4 A.
POSITIVE_LIKELIHOOD = ["A", "B"]
POSITIVE_EVOLUTION = ["A"]


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
    benchmark: Text
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
        known = benchmarks()
        bench = known.get(self.benchmark)
        if bench is None:
            raise ValueError(f"benchmark {self.benchmark!r} is not one of {', '.join(known)}")
        if self.task not in bench.tasks:
            raise ValueError(f"task {self.task!r} is not one of {self.benchmark}'s ({', '.join(bench.tasks)})")
        if self.label is not None and self.label not in self.options:
            raise ValueError(f"label {self.label!r} is not one of the options {sorted(self.options)}")
        return self
