"""What `tasks export` is told: the benchmark, the writer, the split, and the builder's own options
(extra fields, validated by the benchmark's options model: `ExportOptions(benchmark="sib", mode="every", …)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..kb.models import Text


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="allow")  # the benchmark's own build options

    benchmark: Text  # a registered benchmark (tasks/registry.py)
    tasks: list[int] = Field(default_factory=list)  # task numbers; empty = all of the benchmark's
    style: Literal["zero", "few", "cot"] | None = None  # prompt style (None: jsonl without prompts, zero elsewhere)
    fmt: Text = "jsonl"  # a registered writer (export/writers.py)
    output: Path
    seed: int = 0
    test_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    labels: Path | None = None  # gold labels (annotations import output, or {id, label})
    limit: int | None = Field(default=None, ge=1)
    prompts_dir: Path | None = None
    page: int = Field(default=200, ge=1)
