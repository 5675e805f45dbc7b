"""EcomScriptBench generation: shopping objectives from products or categories, a step script per
objective (→ Script, Step), and purchase intentions per product (→ Intention kind `purchase`),
which `align steps` later links to the steps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, model_validator

from ..errors import IntentKBError
from ..kb.ids import purchase_intention_id
from ..kb.units import build_script_unit
from ..llm.responses import Deferred, Rejected
from ..prompts.lines import Objective
from .context import GenContext, product_view
from .pipeline import Pipeline, PipelineOptions, Stage, register
from .stage import Outcome, StageReport, Write

Source = Literal["products", "categories"]


async def generate_scripts(ctx: GenContext, *, source: Source = "products", per_source: int = 2, categories: list[str] | None = None) -> StageReport:
    """`per_source` objectives for each product (or category: all, or only `categories`) not used
    yet, and a script for each."""
    obj_v = ctx.client.prompts.get("esb_objectives").prompt_version
    scr_v = ctx.client.prompts.get("esb_script").prompt_version

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        if source == "products":
            view = product_view(row, vision=ctx.vision)
            values: dict[str, Any] = {"product": view, "category": view["category"], "n": per_source}
            images, category, origin = view["images"], view["category"], f"product:{row['id']}"
        else:
            values = {"product": None, "category": row["category"], "n": per_source}
            images, category, origin = [], row["category"], f"category:{row['category']}"
        objectives: list[Objective] = (await ctx.client.complete("esb_objectives", values, images=images, n=per_source)).value

        async def one(obj: Objective) -> dict[str, Any]:
            vals = {"objective": obj.objective, "specific_goal": obj.specific_goal, "constraint": obj.constraint, "category": category}
            steps: list[str] = (await ctx.client.complete("esb_script", vals)).value
            return build_script_unit(
                obj.objective,
                steps,
                specific_goal=obj.specific_goal,
                constraint=obj.constraint,
                category=category,
                source_id=origin,
                source=f"{ctx.source} ({obj_v}+{scr_v}, {ctx.model})",
            ).row()

        results = await asyncio.gather(*(one(o) for o in objectives), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, (Rejected, Deferred)):
                raise r
        rejected = [r for r in results if isinstance(r, Rejected)]
        writes: list[Write] = [("ingest_scripts", r) for r in results if isinstance(r, dict)]
        if rejected:
            return Outcome(writes=writes, rejected=f"{len(rejected)} of {len(objectives)} scripts failed: {rejected[0].reason}", raw=rejected[0].raw)
        if any(isinstance(r, Deferred) for r in results):
            return Outcome(writes=writes, deferred=True)
        if source == "products":
            writes.append(("gen_product_props", {"id": row["id"], "props": {"scripts_model": ctx.model, "scripts_prompt": f"{obj_v}+{scr_v}"}}))
        return Outcome(writes=writes)

    if source == "products":
        items: Any = ctx.pages("gen_script_products_page", {"for": "scripts"})
        describe: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: {"product": r["id"]}  # noqa: E731
    else:
        found = ctx.store.run("gen_script_categories")
        if categories:
            missing = sorted(set(categories) - {r["category"] for r in found})
            if missing:
                raise IntentKBError(f"no product has the category {', '.join(map(repr, missing[:5]))}")
            found = [r for r in found if r["category"] in categories]
        rows = [r for r in found if r["scripts"] < per_source]
        items = rows[: ctx.limit] if ctx.limit is not None else rows
        describe = lambda r: {"category": r["category"]}  # noqa: E731
    return await ctx.run_stage("esb", "scripts", items, work, describe, order=["ingest_scripts", "gen_product_props"], share=2)


async def generate_purchase_intentions(ctx: GenContext, *, per_product: int = 5) -> StageReport:
    """`per_product` purchase intentions for every product without them."""
    version = ctx.client.prompts.get("esb_purchase_intentions").prompt_version

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        view = product_view(row, vision=ctx.vision)
        texts: list[str] = (
            await ctx.client.complete("esb_purchase_intentions", {"product": view, "n": per_product}, images=view["images"], n=per_product)
        ).value
        writes: list[Write] = []
        for text in texts:
            iid = purchase_intention_id(row["id"], text)
            writes.append(
                (
                    "ingest_purchase_intentions",
                    {
                        "product": {"id": row["id"], "props": {}},
                        "intention": {
                            "id": iid,
                            "props": {"id": iid, "text": text, "kind": "purchase", "model": ctx.model, "prompt_version": version, "source": ctx.source},
                        },
                    },
                )
            )
        writes.append(("gen_product_props", {"id": row["id"], "props": {"purchase_model": ctx.model, "purchase_prompt": version}}))
        return Outcome(writes=writes)

    return await ctx.run_stage(
        "esb",
        "purchase",
        ctx.pages("gen_script_products_page", {"for": "purchase"}),
        work,
        lambda r: {"product": r["id"]},
        order=["ingest_purchase_intentions", "gen_product_props"],
    )


# -- the pipeline --------------------------------------------------------------------------------


class ScriptsOptions(PipelineOptions):
    source: Source = Field(
        default="products", description="Make objectives from each product or from each product category.", json_schema_extra={"flag": "--from"}
    )
    categories: list[str] = Field(
        default_factory=list, description="With --from categories: only this category (repeatable).", json_schema_extra={"flag": "--category"}
    )
    per_source: int = Field(default=2, ge=1, le=20, description="Objectives (scripts) per product or category.")
    intentions_per_product: int = Field(
        default=5, ge=0, le=50, description="Purchase intentions per product (0: none).", json_schema_extra={"flag": "--intentions"}
    )

    @model_validator(mode="after")
    def _categories_need_categories(self) -> ScriptsOptions:
        if self.categories and self.source != "categories":
            raise ValueError("--category needs --from categories")
        return self


register(
    Pipeline(
        name="scripts",
        summary="EcomScriptBench: objectives and step scripts from products or categories, and purchase "
        "intentions per product. Then `intentkb index build` and `intentkb align steps` link them.",
        example="intentkb generate scripts --from categories --per-source 3",
        options=ScriptsOptions,
        stages=(
            Stage("scripts", lambda ctx, o: generate_scripts(ctx, source=o.source, per_source=o.per_source, categories=o.categories or None)),
            Stage(
                "purchase intentions",
                lambda ctx, o: generate_purchase_intentions(ctx, per_product=o.intentions_per_product),
                when=lambda o: o.intentions_per_product > 0,
            ),
        ),
    )
)
