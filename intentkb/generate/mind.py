"""MIND (§3.3–3.5, Table 5): product features from image and title, one co-buy intention per
relation for each co-bought pair, then the role-aware filter: the model, acting as a customer,
keeps or rejects each intention with a reason (`accepted`, `filter_reason`).

Each stage picks up exactly what is missing in the graph (features IS NULL, a pair's relations
without an intention, intentions with accepted IS NULL), so a stopped run resumes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ..kb.ids import cobuy_intention_id
from ..kb.models import Relation
from ..kb.queries import keyset_pages
from ..prompts.lines import FilterVerdict
from .context import PAGE, GenContext, prefetch, product_view
from .pipeline import Pipeline, PipelineOptions, Stage, register
from .stage import Outcome, StageReport, Write

if TYPE_CHECKING:
    from ..llm.client import LLMClient
    from ..retrieval.rerank import Reranker

STAGES = ("features", "intentions", "filter")
StageName = Literal["features", "intentions", "filter"]


def _pair_views(ctx: GenContext, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    a = product_view({"id": row["a"], "title": row["a_title"], "features": row["a_features"], "image_urls": row["a_images"]}, vision=ctx.vision)
    b = product_view({"id": row["b"], "title": row["b_title"], "features": row["b_features"], "image_urls": row["b_images"]}, vision=ctx.vision)
    return a, b


def _images(ctx: GenContext, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """First image(s) of A then of B: the prompts say 'first product first'."""
    n = ctx.client.settings.max_images
    return a["images"][:n] + b["images"][:n]


async def generate_features(ctx: GenContext) -> StageReport:
    version = ctx.client.prompts.get("mind_features").prompt_version

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        view = product_view(row, vision=ctx.vision)
        reply = await ctx.client.complete("mind_features", {"product": view}, images=view["images"][: ctx.client.settings.max_images])
        props = {"features": reply.value, "features_model": ctx.model, "features_prompt": version}
        return Outcome(writes=[("gen_product_props", {"id": row["id"], "props": props})])

    return await ctx.run_stage("mind", "features", ctx.pages("gen_feature_products_page"), work, lambda r: {"product": r["id"]}, order=["gen_product_props"])


def _pending_pairs(ctx: GenContext, relations: list[str]) -> Iterator[tuple[dict[str, Any], str]]:
    """(pair row, relation) for every relation a co-bought pair has no intention of yet."""
    left = ctx.limit
    for rows in keyset_pages(ctx.store, "gen_cobuy_pairs_page", PAGE, keys=("a", "b")):
        for row in rows:
            done = set(row["done"] or [])
            for rel in relations:
                if rel not in done:
                    if left is not None:
                        if left <= 0:
                            return
                        left -= 1
                    yield row, rel


async def generate_cobuy_intentions(ctx: GenContext, relations: list[Relation] | None = None) -> StageReport:
    rels = [r.value for r in (relations or list(Relation))]
    phrases = ctx.client.prompts.relation_phrases()
    version = ctx.client.prompts.get("mind_intention").prompt_version

    async def work(item: tuple[dict[str, Any], str], emit: Callable[[list[Write]], None]) -> Outcome:
        row, rel = item
        a, b = _pair_views(ctx, row)
        relation = {"name": rel, "phrase": phrases[rel]}
        reply = await ctx.client.complete("mind_intention", {"a": a, "b": b, "relation": relation}, images=_images(ctx, a, b))
        text: str = reply.value
        iid = cobuy_intention_id(row["a"], row["b"], rel, text)
        props = {"id": iid, "text": text, "kind": "cobuy", "relation": rel, "model": ctx.model, "prompt_version": version, "source": ctx.source}
        return Outcome(writes=[("gen_cobuy_intention", {"id": iid, "props": props, "a": row["a"], "b": row["b"]})])

    return await ctx.run_stage(
        "mind",
        "intentions",
        prefetch(_pending_pairs(ctx, rels)),
        work,
        lambda it: {"a": it[0]["a"], "b": it[0]["b"], "relation": it[1]},
        order=["gen_cobuy_intention"],
    )


def _critic_scored(rows: Iterator[dict[str, Any]], critic: Reranker, batch: int = 64) -> Iterator[dict[str, Any]]:
    """`rows` with the critic's `critic_score`, scored a batch at a time (one model call each)."""
    from ..training.critic import critic_pair

    chunk: list[dict[str, Any]] = []

    def scored() -> Iterator[dict[str, Any]]:
        probs = critic.score([critic_pair(r["a_title"], r["b_title"], r["relation"], r["text"]) for r in chunk]).tolist()
        for r, p in zip(chunk, probs):
            yield {**r, "critic_score": round(p, 4)}

    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            yield from scored()
            chunk = []
    if chunk:
        yield from scored()


async def filter_intentions(ctx: GenContext, options: MindOptions) -> StageReport:
    """The role-aware filter. With a critic, each intention gets its `critic_score`; with a
    `critic_threshold` too, a score at or past it (or at or below 1 − it) decides without the LLM,
    which is asked about the uncertain middle only."""
    phrases = ctx.client.prompts.relation_phrases()
    version = ctx.client.prompts.get("mind_filter").prompt_version
    rows: Iterator[dict[str, Any]] = ctx.pages("gen_unfiltered_page")
    sure = options.critic_threshold
    if options.critic:
        from ..retrieval.rerank import Reranker, reranker_location, reranker_options

        critic = Reranker(reranker_location(ctx.settings, options.critic, "critic"), **reranker_options(ctx.settings))
        rows = prefetch(_critic_scored(rows, critic))

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        score = row.get("critic_score")
        scored = {"critic_score": score, "critic_model": options.critic} if score is not None else {}
        if score is not None and sure is not None and (score >= sure or score <= 1 - sure):
            decided = {"accepted": score >= sure, "filter_model": f"critic:{options.critic}", "filter_reason": f"critic score {score:.2f}", **scored}
            return Outcome(writes=[("gen_intention_props", {"id": row["id"], "props": decided})])
        a, b = _pair_views(ctx, row)
        rel = Relation.parse(row["relation"]).value
        values = {"a": a, "b": b, "relation": {"name": rel, "phrase": phrases[rel]}, "intention": row["text"]}
        reply = await ctx.client.complete("mind_filter", values, images=_images(ctx, a, b))
        verdict: FilterVerdict = reply.value
        props: dict[str, Any] = {"accepted": verdict.accepted, "filter_model": ctx.model, "filter_prompt": version, **scored}
        if verdict.reason:
            props["filter_reason"] = verdict.reason
        return Outcome(writes=[("gen_intention_props", {"id": row["id"], "props": props})])

    return await ctx.run_stage("mind", "filter", rows, work, lambda r: {"intention": r["id"]}, order=["gen_intention_props"])


# -- the pipeline --------------------------------------------------------------------------------


class MindOptions(PipelineOptions):
    stages: list[StageName] = Field(
        default_factory=lambda: list(STAGES),  # type: ignore[arg-type]  # STAGES are the StageName values
        description="Only these stages (repeatable; default all three, in order).",
        json_schema_extra={"flag": "--stage"},
    )
    relations: list[Relation] = Field(
        default_factory=list, description="Only these MIND relations (repeatable; default all 20).", json_schema_extra={"flag": "--relation"}
    )

    critic: str | None = Field(
        default=None,
        description="Score each intention the filter stage judges with this critic (`intentkb train critic -o NAME`), kept as critic_score.",
        json_schema_extra={"metavar": "NAME_OR_PATH"},
    )
    critic_threshold: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        description="With --critic: a score at or past this keeps the intention, at or below 1 minus it drops it, "
        "without asking the LLM; only the uncertain middle goes to the role-aware filter.",
    )

    @model_validator(mode="after")
    def _threshold_needs_critic(self) -> MindOptions:
        if self.critic_threshold is not None and not self.critic:
            raise ValueError("--critic-threshold needs --critic NAME")
        return self

    @field_validator("stages", mode="before")
    @classmethod
    def _all_when_none(cls, v: Any) -> Any:
        return v or list(STAGES)

    @field_validator("relations", mode="before")
    @classmethod
    def _parse_relations(cls, v: Any) -> Any:
        return [r if isinstance(r, Relation) else Relation.parse(str(r)) for r in v or []]


def estimate_filter_of_new(client: LLMClient, options: MindOptions, stages: list[StageReport]) -> None:
    """A dry run cannot read intentions it did not write: the filter would also judge every
    intention the intentions stage would make, with a prompt about as long as that stage's plus
    the intention itself."""
    new = next((s.written for s in stages if s.stage == "intentions"), 0)
    if not new or "filter" not in options.stages:
        return
    gen = client.usage.of(client.prompts.get("mind_intention").prompt_version)
    filt = client.prompts.get("mind_filter")
    u = client.usage.of(filt.prompt_version)
    per_prompt = (gen.prompt_tokens + gen.completion_tokens) / max(gen.calls, 1)
    u.calls += new
    u.prompt_tokens += int(per_prompt * new)
    u.completion_tokens += filt.expect_tokens * new


register(
    Pipeline(
        name="mind",
        summary="MIND: product features, one co-buy intention per relation for each co-bought pair, and the "
        "role-aware filter (accepted + reason). Preserve rates per relation: `intentkb stats`.",
        example="intentkb generate mind --relation usedFor --relation capableOf --dry-run",
        options=MindOptions,
        stages=(
            Stage("features", lambda ctx, o: generate_features(ctx), when=lambda o: "features" in o.stages),
            Stage("intentions", lambda ctx, o: generate_cobuy_intentions(ctx, o.relations or None), when=lambda o: "intentions" in o.stages),
            Stage("filter", lambda ctx, o: filter_intentions(ctx, o), when=lambda o: "filter" in o.stages),
        ),
        estimate=estimate_filter_of_new,
    )
)
