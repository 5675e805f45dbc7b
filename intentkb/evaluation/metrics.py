"""Scores with their uncertainty: a benchmark accuracy means little without its interval."""

from __future__ import annotations

import math

from pydantic import BaseModel


class Accuracy(BaseModel):
    correct: int
    total: int
    accuracy: float | None
    ci95_low: float | None
    ci95_high: float | None

    def text(self) -> str:
        if self.accuracy is None:
            return "no questions"
        return f"{self.accuracy:.4f} [{self.ci95_low:.4f}, {self.ci95_high:.4f}] ({self.correct}/{self.total})"


def wilson(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval: stays inside [0, 1] and is sound for small n and extreme rates."""
    if total <= 0:
        raise ValueError("no trials")
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(correct: int, total: int) -> Accuracy:
    if total == 0:
        return Accuracy(correct=0, total=0, accuracy=None, ci95_low=None, ci95_high=None)
    lo, hi = wilson(correct, total)
    return Accuracy(correct=correct, total=total, accuracy=round(correct / total, 4), ci95_low=round(lo, 4), ci95_high=round(hi, 4))
