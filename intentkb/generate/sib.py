"""SessionIntentBench generation (appendix A.1–A.2, B.2): attributes per product, then an intention
tree per session, each node conditioned on its parent intention and the products seen so far.

Tree node ids are positions in the tree (session, path), so a node is written once whatever the
run; a killed run resumes from the nodes already in the graph: a node whose children exist is
not asked again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import Field

from ..errors import IntentKBError
from ..kb.ids import attribute_id, session_intention_ider
from ..llm.responses import Deferred, Rejected
from ..prompts.lines import ExtractedAttributes, TreeIntention
from .context import GenContext, product_view
from .pipeline import Pipeline, PipelineOptions, Stage, register
from .schedule import BranchingSchedule
from .stage import Outcome, StageReport, Write


def _attr(name: str, value: str) -> dict[str, str]:
    return {"id": attribute_id(name, value), "name": name.lower(), "value": value}


# -- attributes ----------------------------------------------------------------------------------


async def generate_attributes(ctx: GenContext, *, viewed_only: bool = True) -> StageReport:
    """Category and `name: value` attributes of every product (those viewed in sessions by default)."""
    template = ctx.client.prompts.get("sib_attributes")

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        view = product_view(row, vision=ctx.vision)
        reply = await ctx.client.complete("sib_attributes", {"product": view}, images=view["images"])
        got: ExtractedAttributes = reply.value
        props = {"extracted_category": got.category, "attributes_model": ctx.model, "attributes_prompt": template.prompt_version}
        return Outcome(
            writes=[
                ("gen_product_attributes", {"id": row["id"], "category": got.category, "props": props, "attributes": [_attr(n, v) for n, v in got.attributes]})
            ]
        )

    items = ctx.pages("gen_attribute_products_page", {"viewed_only": viewed_only})
    return await ctx.run_stage("sib", "attributes", items, work, lambda r: {"product": r["id"]}, order=["gen_product_attributes"])


# -- trees ---------------------------------------------------------------------------------------


def schedule_key(schedule: BranchingSchedule) -> str:
    return f"roots={schedule.roots},width={schedule.width},branch_until={schedule.branch_until}"


class TreeGrower:
    """Grows one session's tree; `emit` gets each node's children as one write."""

    def __init__(
        self,
        ctx: GenContext,
        session: str,
        products: list[dict[str, Any]],
        schedule: BranchingSchedule,
        existing: dict[str, str],
        emit: Callable[[list[Write]], None],
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.products = products
        self.schedule = schedule
        self.existing = existing
        self.emit = emit
        self.ider = session_intention_ider(session)
        self.errors: list[tuple[str, str | None]] = []
        self.deferred = 0
        root_t = ctx.client.prompts.get("sib_tree_root")
        branch_t = ctx.client.prompts.get("sib_tree_branch")
        self.versions = {"root": root_t.prompt_version, "branch": branch_t.prompt_version}

    def _props(self, node: TreeIntention, step: int, nid: str, version: str) -> dict[str, Any]:
        props: dict[str, Any] = {
            "id": nid,
            "text": node.text,
            "kind": "session",
            "step": step,
            "model": self.ctx.model,
            "prompt_version": version,
            "source": self.ctx.source,
        }
        for k in ("rationale", "comparison", "comparison_aspect"):
            v = getattr(node, k)
            if v:
                props[k] = v
        return props

    def _rows(self, nodes: list[TreeIntention], paths: list[tuple[int, ...]], ids: list[str], version: str, link: dict[str, str]) -> list[dict[str, Any]]:
        step = len(paths[0])
        product = self.products[step - 1]["id"]
        rows = []
        for node, nid in zip(nodes, ids):
            rows.append(
                {
                    "id": nid,
                    "props": self._props(node, step, nid, version),
                    "product": product,
                    "attribute": _attr(*node.attribute) if node.attribute else None,
                    **link,
                }
            )
        return rows

    async def _ask(self, name: str, values: dict[str, Any], images: list[str], n: int, what: str) -> list[TreeIntention] | None:
        try:
            reply = await self.ctx.client.complete(name, values, images=images, n=n)
        except Rejected as e:
            self.errors.append((f"{what}: {e.reason}", e.raw))
            return None
        except Deferred:
            self.deferred += 1
            return None
        return list(reply.value)

    async def grow(self) -> None:
        roots: list[tuple[int, ...]] = [(i,) for i in range(self.schedule.roots)]
        ids = [self.ider(p) for p in roots]
        if all(i in self.existing for i in ids):
            texts = [self.existing[i] for i in ids]
        else:
            first = self.products[0]
            got = await self._ask("sib_tree_root", {"product": first, "n": len(roots)}, first["images"], len(roots), "step 1")
            if got is None:
                return
            rows = self._rows(got, roots, ids, self.versions["root"], {"session": self.session})
            self.emit([("gen_tree_roots", r) for r in rows])
            texts = [n.text for n in got]
        await self._grow_all(roots, texts)

    async def _grow_all(self, paths: list[tuple[int, ...]], texts: list[str]) -> None:
        """Grow below each node; nothing to do (no task made) at the last step."""
        if len(paths[0]) >= len(self.products):
            return
        if len(paths) == 1:
            await self._grow_below(paths[0], texts[0])
        else:
            await asyncio.gather(*(self._grow_below(p, t) for p, t in zip(paths, texts)))

    async def _grow_below(self, path: tuple[int, ...], text: str) -> None:
        step = len(path)
        if step >= len(self.products):
            return
        n = self.schedule.children(step)
        kids = [(*path, j) for j in range(n)]
        ids = [self.ider(k) for k in kids]
        if all(i in self.existing for i in ids):
            texts = [self.existing[i] for i in ids]
        else:
            new = self.products[step]
            values = {"previous_intention": text, "previous_products": self.products[:step], "product": new, "n": n}
            got = await self._ask("sib_tree_branch", values, new["images"], n, f"step {step + 1} under {'.'.join(map(str, path))}")
            if got is None:
                return
            rows = self._rows(got, kids, ids, self.versions["branch"], {"parent": self.ider(path)})
            self.emit([("gen_tree_children", r) for r in rows])
            texts = [g.text for g in got]
        await self._grow_all(kids, texts)


def _all_ids(session: str, schedule: BranchingSchedule, length: int) -> list[str]:
    ider = session_intention_ider(session)
    level: list[tuple[int, ...]] = [(i,) for i in range(schedule.roots)]
    out = [ider(p) for p in level]
    for step in range(1, length):
        level = [(*p, j) for p in level for j in range(schedule.children(step))]
        out.extend(ider(p) for p in level)
    return out


async def generate_trees(ctx: GenContext, *, schedule: BranchingSchedule | None = None, sessions: list[str] | None = None) -> StageReport:
    """An intention tree for every session without a finished one (or for `sessions`)."""
    schedule = schedule or BranchingSchedule()
    key = schedule_key(schedule)

    async def work(row: dict[str, Any], emit: Callable[[list[Write]], None]) -> Outcome:
        sid = row["id"]
        prows = await asyncio.to_thread(ctx.store.run, "gen_session_products", {"session": sid})
        if not prows:
            return Outcome(rejected="the session has no viewed products")
        products = [product_view(p, attributes=list(p.get("attributes") or []) or None, vision=ctx.vision) for p in prows]
        ids = _all_ids(sid, schedule, len(products))
        found = await asyncio.to_thread(ctx.store.run, "gen_tree_ids", {"ids": ids})
        existing = {r["id"]: r["text"] for r in found}
        grower = TreeGrower(ctx, sid, products, schedule, existing, emit)
        await grower.grow()
        if grower.errors:
            reason, raw = grower.errors[0]
            more = f" (and {len(grower.errors) - 1} more failed calls)" if len(grower.errors) > 1 else ""
            return Outcome(rejected=f"tree incomplete: {reason}{more}", raw=raw)
        if grower.deferred:
            return Outcome(deferred=True)
        props = {"tree_schedule": key, "tree_model": ctx.model, "tree_prompt": f"{grower.versions['root']}+{grower.versions['branch']}", "tree_nodes": len(ids)}
        return Outcome(writes=[("gen_session_props", {"id": sid, "props": props})])

    if sessions:
        found = ctx.store.run("gen_sessions_by_id", {"ids": sessions})
        missing = sorted(set(sessions) - {r["id"] for r in found})
        if missing:
            raise IntentKBError(f"no session {', '.join(missing[:5])} in the graph")
        items: Any = found
    else:
        items = ctx.pages("gen_sessions_page")
    return await ctx.run_stage(
        "sib", "trees", items, work, lambda r: {"session": r["id"]}, order=["gen_tree_roots", "gen_tree_children", "gen_session_props"], share=4
    )


# -- the two pipelines ---------------------------------------------------------------------------


class AttributesOptions(PipelineOptions):
    all_products: bool = Field(default=False, description="Every product, not only those viewed in sessions.")


class TreesOptions(PipelineOptions):
    sessions: list[str] = Field(default_factory=list, description="Only these sessions (repeatable).", json_schema_extra={"flag": "--session"})
    roots: int = Field(default=1, ge=1, le=20, description="Intentions at step 1.")
    width: int = Field(default=5, ge=1, le=20, description="Children per intention while branching.")
    branch_until: int = Field(default=4, ge=1, le=100, description="Branch while the child's step ≤ this; one child per intention after.")

    @property
    def schedule(self) -> BranchingSchedule:
        return BranchingSchedule(roots=self.roots, width=self.width, branch_until=self.branch_until)


register(
    Pipeline(
        name="attributes",
        summary="SessionIntentBench step 1: category and `name: value` attributes of each product.",
        example="intentkb generate attributes --dry-run",
        options=AttributesOptions,
        stages=(Stage("attributes", lambda ctx, o: generate_attributes(ctx, viewed_only=not o.all_products)),),
    )
)
register(
    Pipeline(
        name="trees",
        summary="SessionIntentBench: an intention tree per session (intention, valued attribute, rationale, "
        "comparison at every node). Run `generate attributes` first: the prompts show them.",
        example="intentkb generate trees --limit 100 --concurrency 64",
        options=TreesOptions,
        stages=(Stage("trees", lambda ctx, o: generate_trees(ctx, schedule=o.schedule, sessions=o.sessions or None)),),
    )
)
