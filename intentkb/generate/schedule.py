"""The branching schedule of intention trees (SessionIntentBench appendix B.2), as a setting."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BranchingSchedule(BaseModel):
    """`roots` intentions at step 1; each step-t node has `width` children while t+1 <= `branch_until`,
    one child after that. The paper: 1 root, ×5 up to step 4, ×1 from step 5 on."""

    roots: int = Field(default=1, ge=1)
    width: int = Field(default=5, ge=1)
    branch_until: int = Field(default=4, ge=1)

    def children(self, step: int) -> int:
        return self.width if step + 1 <= self.branch_until else 1

    def nodes_per_step(self, length: int) -> list[int]:
        counts = [self.roots]
        for step in range(1, length):
            counts.append(counts[-1] * self.children(step))
        return counts

    def tree_size(self, length: int) -> int:
        return sum(self.nodes_per_step(length))

    def trajectories(self, length: int) -> int:
        return self.nodes_per_step(length)[-1]
