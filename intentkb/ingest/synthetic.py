"""Synthetic intention forests in the tree JSONL format, for scale benchmarks and crash tests.

Paper scale (SessionIntentBench §5.1): 10,905 sessions of 3–5 products giving 1,952,177 intention
nodes and 1,132,145 trajectories. With the ×5 schedule a tree has 31 / 156 / 281 nodes and 25 / 125 /
125 trajectories for 3 / 4 / 5 products; 2,310 / 4,277 / 4,318 sessions of those lengths solve both
totals (1,952,180 nodes, 1,132,125 trajectories).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from ..generate.schedule import BranchingSchedule

PAPER_LENGTHS = {3: 2310, 4: 4277, 5: 4318}

_NAMES = ["color", "size", "material", "brand", "price", "style", "capacity", "power", "fit", "theme", "pattern", "use"]
_VERBS = ["wants", "compares", "looks for", "prefers", "checks", "needs", "switches to", "keeps", "considers", "explores"]
_OBJECTS = [
    "a lighter option",
    "a cheaper model",
    "the same brand",
    "a bigger size",
    "a gift for a friend",
    "a matching accessory",
    "better reviews",
    "a durable material",
    "a different style",
    "faster delivery",
    "an eco-friendly version",
    "a bundle deal",
]


def forest_totals(lengths: dict[int, int], schedule: BranchingSchedule | None = None) -> dict[str, int]:
    schedule = schedule or BranchingSchedule()
    return {
        "sessions": sum(lengths.values()),
        "intentions": sum(n * schedule.tree_size(length) for length, n in lengths.items()),
        "trajectories": sum(n * schedule.trajectories(length) for length, n in lengths.items()),
    }


def synthetic_forest(
    lengths: dict[int, int] | None = None, schedule: BranchingSchedule | None = None, *, products: int = 20_000, seed: int = 7, prefix: str = "syn"
) -> Iterator[dict[str, Any]]:
    """Tree records, one per session, deterministic for a seed."""
    lengths = lengths or PAPER_LENGTHS
    schedule = schedule or BranchingSchedule()
    rng = random.Random(seed)
    attrs = [f"{n}: value {v}" for n in _NAMES for v in range(160)]
    plan = [length for length, n in sorted(lengths.items()) for _ in range(n)]
    rng.shuffle(plan)

    def node(step: int, length: int, tag: str) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": f"The customer {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} ({tag}).",
            "attribute": rng.choice(attrs),
            "rationale": f"{rng.choice(_NAMES)}: reason {rng.randrange(500)}",
        }
        if step > 1:
            d["comparison"] = {"aspect": rng.choice(_NAMES), "text": f"Product {step} differs from product {step - 1} in {rng.choice(_NAMES)} ({tag})."}
        if step < length:
            d["children"] = [node(step + 1, length, f"{tag}.{i}") for i in range(schedule.children(step))]
        return d

    for i, length in enumerate(plan):
        sid = f"{prefix}-{i:06d}"
        yield {
            "session_id": sid,
            "locale": "UK",
            "products": [{"id": f"{prefix}P{rng.randrange(products):06d}"} for _ in range(length)],
            "intentions": [node(1, length, f"{sid}/{r}") for r in range(schedule.roots)],
            "model": "synthetic",
            "prompt_version": "synthetic-v1",
        }
