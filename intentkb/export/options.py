"""What `tasks export` is told: the benchmark and its builder's options, the writer, the split."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..kb.models import Text


class ExportOptions(BaseModel):
    benchmark: Text  # a registered benchmark (tasks/registry.py)
    tasks: list[int] = Field(default_factory=list)  # task numbers; empty = all of the benchmark's
    mode: Literal["end", "every"] = "end"  # sib: at the end of each trajectory, or at every step
    style: Literal["zero", "few", "cot"] | None = None  # prompt style (None: jsonl without prompts, zero elsewhere)
    fmt: Text = "jsonl"  # a registered writer (export/writers.py)
    output: Path
    seed: int = 0
    test_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    labels: Path | None = None  # gold labels (annotations import output, or {id, label})
    limit: int | None = Field(default=None, ge=1)
    # the builders' own options (each benchmark's options model reads those it knows)
    negatives: int = Field(default=1, ge=1)  # esb T1 negatives per script
    band: tuple[float, float] = (0.3, 0.8)  # iqa distractor similarity band
    prompts_dir: Path | None = None
    page: int = Field(default=200, ge=1)
