"""One `intentkb generate …` run: open everything, run the registered pipeline's stages (in Batch
API rounds when asked), account tokens and cost, and keep a record of the run in DATA_DIR/runs/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field

from ..config import Settings
from ..kb.engines import open_store
from ..llm.accounting import PromptUsage, Usage
from ..llm.cache import ResponseCache
from ..llm.client import LLMClient
from ..llm.settings import LLMSettings
from ..private import private_dir, private_write_text
from ..prompts.templates import Prompts
from .batch import BatchRound, batch_rounds
from .context import GenContext
from .pipeline import PipelineOptions, Stage, get_pipeline
from .stage import StageReport


class RunRecord(BaseModel):
    run_id: str
    pipeline: str
    started: str
    dry_run: bool
    batch: bool
    seconds: float = 0.0
    llm: dict[str, Any]
    options: dict[str, Any]
    stages: list[StageReport] = Field(default_factory=list)
    batch_rounds: list[BatchRound] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    output: str = "auto"  # how replies were asked for; says so when auto fell back to line formats
    record_file: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> PromptUsage:
        return self.usage.total()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def calls_per_second(self) -> float:
        return round(self.total.calls / self.seconds, 1) if self.seconds else 0.0

    def lines(self) -> list[str]:
        out = [("dry run, nothing written: " if self.dry_run else "") + s.line() for s in self.stages]
        t = self.total
        head = "dry run, estimated" if self.dry_run else "model calls"
        out.append(
            f"{head}: {t.calls} calls ({t.cache_hits} cache hits, {t.retries} retries, {t.corrections} corrections), "
            f"{t.prompt_tokens:,} prompt + {t.completion_tokens:,} completion tokens, ${self.usage.cost_usd:,.4f}"
            + ("" if self.dry_run else f"; {self.calls_per_second:,.0f} calls/s over {self.seconds:.1f}s")
        )
        for name, u in sorted(self.usage.prompts.items()):
            out.append(f"  {name}: {u.calls} calls, {u.cache_hits} cached, {u.failures} failed, {u.prompt_tokens:,} + {u.completion_tokens:,} tokens")
        if self.output.startswith("lines ("):
            out.append(f"output: {self.output}")
        if self.record_file:
            out.append(f"run record: {self.record_file}")
        return out


def merge_rounds(reports: list[StageReport]) -> StageReport:
    """One report for a stage run in batch rounds. An item finished in a round is not seen again;
    one rejected or deferred is tried again in the next round, so the last round says how it ended."""
    last = reports[-1]
    written = sum(r.written for r in reports)
    graph = reports[0].graph.model_copy()
    for r in reports[1:]:
        graph += r.graph
    return last.model_copy(
        update={"items": written + last.rejected + last.deferred, "written": written, "graph": graph, "seconds": round(sum(r.seconds for r in reports), 3)}
    )


def pipeline_options(pipeline: str, opts: PipelineOptions | Mapping[str, Any] | None) -> PipelineOptions:
    """`opts` read through the pipeline's own options model (a dict, or the model itself)."""
    model = get_pipeline(pipeline).options
    if isinstance(opts, model):
        return opts
    raw = opts.model_dump() if isinstance(opts, BaseModel) else dict(opts or {})
    return model.model_validate(raw)


async def run_async(
    pipeline: str, settings: Settings, llm: LLMSettings, opts: PipelineOptions | Mapping[str, Any] | None = None, echo: Callable[[str], None] | None = None
) -> RunRecord:
    spec = get_pipeline(pipeline)
    opts = pipeline_options(pipeline, opts)
    started = datetime.now(UTC)
    run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{pipeline}"
    record = RunRecord(
        run_id=run_id,
        pipeline=pipeline,
        started=started.isoformat(timespec="seconds"),
        dry_run=opts.dry_run,
        batch=opts.batch,
        llm=llm.public(),
        options=opts.recorded(),
    )
    cache = ResponseCache(llm.cache_path or settings.llm_cache_path)
    client = LLMClient(llm, cache, Prompts(llm.prompts_dir), dry=opts.dry_run)
    store = open_store(settings)
    t0 = time.perf_counter()
    try:
        if not opts.dry_run:
            store.setup_schema()
        ctx = GenContext(
            settings=settings,
            store=store,
            client=client,
            parallel=llm.concurrency,
            limit=opts.limit,
            progress=opts.progress,
            dry=opts.dry_run,
            source=f"intentkb generate {pipeline}",
        )
        for stage in spec.stages_for(opts):

            def fn(stage: Stage = stage, options: PipelineOptions = opts) -> Awaitable[StageReport]:
                return stage.run(ctx, options)

            if opts.batch and not opts.dry_run:
                reports, rounds = await batch_rounds(client, fn, settings.data_dir / "batches", f"{pipeline}", echo)
                record.batch_rounds.extend(rounds)
                report = merge_rounds(reports)
            else:
                report = await fn()
            record.stages.append(report)
        if opts.dry_run and spec.estimate is not None:
            spec.estimate(client, opts, record.stages)
    finally:
        await client.aclose()
        cache.close()
        store.close()
    record.seconds = round(time.perf_counter() - t0, 3)
    record.usage = client.usage.finish(*llm.prices())
    record.output = f"lines (the endpoint refused response_format: {client.schema_refused})" if client.schema_refused else llm.output
    if not opts.dry_run:
        runs = settings.data_dir / "runs"
        private_dir(runs)
        path = runs / f"{run_id}.json"
        record.record_file = str(path)
        private_write_text(path, record.model_dump_json(indent=2))
    return record


def run_generation(
    pipeline: str,
    settings: Settings | None = None,
    llm: LLMSettings | None = None,
    opts: PipelineOptions | Mapping[str, Any] | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunRecord:
    """Run a registered generation pipeline (`intentkb.generate.pipeline`) to its end; `opts` is its
    options model or a dict of its fields."""
    return asyncio.run(run_async(pipeline, settings or Settings(), llm or LLMSettings(), opts, echo))
