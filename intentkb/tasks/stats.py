"""What a task build saw and left out, so an export's counts can be checked against the graph's."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field


class BuildStats(BaseModel):
    trajectories: int = 0  # SessionIntentBench: paths read
    sources: int = 0  # ESB scripts / IQA intentions read
    repeats: int = 0  # questions met again through another path, yielded once
    skipped: dict[str, int] = Field(default_factory=dict)  # "task: reason" -> count

    def skip(self, task: str, reason: str, n: int = 1) -> None:
        if n <= 0:
            return
        key = f"{task}: {reason}"
        self.skipped[key] = self.skipped.get(key, 0) + n

    def skipped_lines(self) -> list[str]:
        return [f"skipped {n:,} {k}" for k, n in sorted(Counter(self.skipped).items())]
