"""One `intentkb generate …` run: open everything, run the pipeline's stages (in Batch API rounds
when asked), account tokens and cost, and keep a record of the run in DATA_DIR/runs/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from ..config import Settings
from ..kb.engines import open_store
from ..kb.models import Relation
from ..kb.schedule import BranchingSchedule
from ..private import private_dir, private_write_text
from . import esb, mind, sib
from .accounting import PromptUsage, Usage
from .batch import BatchRound, batch_rounds
from .cache import ResponseCache
from .client import LLMClient
from .context import GenContext
from .prompts import Prompts
from .runner import StageReport
from .settings import LLMSettings

Pipeline = Literal["attributes", "trees", "mind", "scripts"]
PIPELINES: tuple[str, ...] = ("attributes", "trees", "mind", "scripts")


class GenOptions(BaseModel):
    """Everything a `generate` command can be told; the defaults are the papers' settings."""

    limit: int | None = Field(default=None, ge=0)
    batch: bool = False
    dry_run: bool = False
    progress: bool = True
    # attributes
    all_products: bool = False
    # trees
    schedule: BranchingSchedule = Field(default_factory=BranchingSchedule)
    sessions: list[str] = Field(default_factory=list)
    # mind
    stages: tuple[str, ...] = mind.STAGES
    relations: list[Relation] = Field(default_factory=list)
    # scripts
    source: esb.Source = "products"
    per_source: int = Field(default=2, ge=1, le=20)
    categories: list[str] = Field(default_factory=list)
    intentions_per_product: int = Field(default=5, ge=0, le=50)


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


def _stage_fns(pipeline: str, ctx: GenContext, opts: GenOptions) -> list[Callable[[], Awaitable[StageReport]]]:
    if pipeline == "attributes":
        return [lambda: sib.generate_attributes(ctx, viewed_only=not opts.all_products)]
    if pipeline == "trees":
        return [lambda: sib.generate_trees(ctx, schedule=opts.schedule, sessions=opts.sessions or None)]
    if pipeline == "mind":
        fns = {
            "features": lambda: mind.generate_features(ctx),
            "intentions": lambda: mind.generate_cobuy_intentions(ctx, opts.relations or None),
            "filter": lambda: mind.filter_intentions(ctx),
        }
        return [fns[s] for s in mind.STAGES if s in opts.stages]
    if pipeline == "scripts":
        fns_ = [lambda: esb.generate_scripts(ctx, source=opts.source, per_source=opts.per_source, categories=opts.categories or None)]
        if opts.intentions_per_product:
            fns_.append(lambda: esb.generate_purchase_intentions(ctx, per_product=opts.intentions_per_product))
        return fns_
    raise ValueError(f"unknown pipeline {pipeline!r} ({', '.join(PIPELINES)})")


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


def _estimate_filter_of_new(client: LLMClient, stages: list[StageReport]) -> None:
    """A dry run cannot read intentions it did not write: the filter would also judge every
    intention the intentions stage would make, with a prompt about as long as that stage's plus
    the intention itself."""
    new = next((s.written for s in stages if s.stage == "intentions"), 0)
    if not new:
        return
    gen = client.usage.of(client.prompts.get("mind_intention").prompt_version)
    filt = client.prompts.get("mind_filter")
    u = client.usage.of(filt.prompt_version)
    per_prompt = (gen.prompt_tokens + gen.completion_tokens) / max(gen.calls, 1)
    u.calls += new
    u.prompt_tokens += int(per_prompt * new)
    u.completion_tokens += filt.expect_tokens * new


async def run_async(pipeline: str, settings: Settings, llm: LLMSettings, opts: GenOptions, echo: Callable[[str], None] | None = None) -> RunRecord:
    started = datetime.now(UTC)
    run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{pipeline}"
    record = RunRecord(
        run_id=run_id,
        pipeline=pipeline,
        started=started.isoformat(timespec="seconds"),
        dry_run=opts.dry_run,
        batch=opts.batch,
        llm=llm.public(),
        options=opts.model_dump(mode="json", exclude={"progress", "dry_run", "batch"}),
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
        for fn in _stage_fns(pipeline, ctx, opts):
            if opts.batch and not opts.dry_run:
                reports, rounds = await batch_rounds(client, fn, settings.data_dir / "batches", f"{pipeline}", echo)
                record.batch_rounds.extend(rounds)
                report = merge_rounds(reports)
            else:
                report = await fn()
            record.stages.append(report)
        if opts.dry_run and pipeline == "mind" and {"intentions", "filter"} <= set(opts.stages):
            _estimate_filter_of_new(client, record.stages)
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
    pipeline: str, settings: Settings | None = None, llm: LLMSettings | None = None, opts: GenOptions | None = None, echo: Callable[[str], None] | None = None
) -> RunRecord:
    """Run a generation pipeline ('attributes', 'trees', 'mind', 'scripts') to its end."""
    return asyncio.run(run_async(pipeline, settings or Settings(), llm or LLMSettings(), opts or GenOptions(), echo))
