"""The generation pipelines as data: each pipeline module declares its stages and its options, and
`generate`'s subcommands, the run loop and the dry run are all built from this registry.

A pipeline module ends with `register(Pipeline(...))`: its name (the `generate` subcommand), what
it makes, its options model (a `PipelineOptions` whose fields, with their descriptions and bounds,
become the command's options) and its stages in order, each with the condition under which the
options run it. Adding a stage is a function plus its `Stage` in the pipeline's list; adding a
pipeline is its module plus its line in `MODULES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..clikit.model_options import option_problems
from ..errors import IntentKBError
from ..registry import Registry

if TYPE_CHECKING:
    from ..llm.client import LLMClient
    from .context import GenContext
    from .stage import StageReport

MODULES: tuple[str, ...] = ("intentkb.generate.sib", "intentkb.generate.mind", "intentkb.generate.esb")


class PipelineOptions(BaseModel):
    """What every `generate` command takes; a pipeline's own options model extends it. A field's
    `json_schema_extra={"flag": "--name"}` names its command-line option (default: --field-name)."""

    model_config = ConfigDict(extra="forbid")
    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("progress", "dry_run", "batch")  # how a run is driven, set by the common options

    limit: int | None = Field(default=None, ge=0, description="At most this many items (products, sessions, pairs×relations…).")
    batch: bool = False
    dry_run: bool = False
    progress: bool = True

    def recorded(self) -> dict[str, Any]:
        """The options as the run record keeps them (not how the run was driven)."""
        return self.model_dump(mode="json", exclude=set(self.RUN_FIELDS))


StageFn = Callable[["GenContext", Any], Awaitable["StageReport"]]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn  # run(ctx, options) -> its report
    when: Callable[[Any], bool] = lambda options: True  # whether these options run it


@dataclass(frozen=True)
class Pipeline:
    name: str
    summary: str  # the command's help: what it makes, from what (the paper's section)
    example: str  # one command line for --help
    options: type[PipelineOptions]
    stages: tuple[Stage, ...]
    # after a dry run: add what the dry run cannot see (e.g. the filter of intentions not yet written)
    estimate: Callable[[LLMClient, Any, list[StageReport]], None] | None = None

    def __post_init__(self) -> None:
        """Its options become `generate <name>`'s flags beside the common ones: checked now, so a
        plugin's mistake is its own warning (a field without help used to break `generate --help`)."""
        own = {n: f for n, f in self.options.model_fields.items() if n not in PipelineOptions.model_fields}
        problems = option_problems(own, reserved=GENERATE_NAMES | set(PipelineOptions.model_fields), reserved_flags=GENERATE_FLAGS)
        if problems:
            raise IntentKBError(f"pipeline {self.name}: " + "; ".join(problems))

    def stages_for(self, options: PipelineOptions) -> list[Stage]:
        return [s for s in self.stages if s.when(options)]


# `generate`'s own options (cli/generate.py), which no pipeline's option may take
GENERATE_NAMES = {"concurrency", "model", "prompts_dir", "multimodal", "llm_output", "output", "as_json", "json", "format", "help"}
GENERATE_FLAGS = {"--concurrency", "--model", "--prompts", "--multimodal", "--output", "--llm-output", "--batch", "--dry-run", "--limit"}
GENERATE_FLAGS |= {"--json", "--format", "--help", "-h"}

_PIPELINES: Registry[Pipeline] = Registry("pipeline", MODULES, lambda p: p.name, lambda p: p.options.__module__, group="intentkb.pipelines")
register = _PIPELINES.register
pipelines = _PIPELINES.all
get_pipeline = _PIPELINES.get
