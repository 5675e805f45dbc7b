"""EcomScriptBench tasks T1–T3 from scripts, their steps and the steps' ALIGNED products.

- T1 script verification: each script as it is (A: yes, a sound script) and `negatives` broken
  copies (B: no): two steps swapped, the steps shuffled, or one step replaced by a step of another
  script. The kind is drawn per script from the seed, falling back to one that applies.
- T2 step-product discrimination: for each aligned step, its best aligned product (A) and a hard
  negative (B): the product reached through the intentions nearest to the step's text that is
  aligned to no step of the script.
- T3 script-products verification: the script with the best aligned product of each step (A), and
  a copy where one step's product is replaced by that step's hard negative (B). Needs two aligned
  steps.

T2 and T3 need `intentkb align steps` (the ALIGNED edges) and the intention index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ...config import Settings
from ...errors import IntentKBError
from ...kb.queries import keyset_pages
from ...kb.store import GraphStore, Row
from ..items import YES_NO, Item, make_item, product_ref, seeded, short_hash
from ..registry import Benchmark, BuildOptions, register
from ..stats import BuildStats

if TYPE_CHECKING:
    from ...retrieval.retrieve import Retriever

NEGATIVE_KINDS = ("swap", "shuffle", "replace")
SEARCH_WIDTH = 64  # intentions searched per step for its hard negative


def _broken(texts: list[str], kind: str, rng: Any, others: list[str]) -> tuple[list[str], str] | None:
    """A copy of `texts` broken in the way `kind` says, with what was done; None when it cannot apply."""
    n = len(texts)
    if kind == "swap" and n >= 2:
        i, j = sorted(rng.sample(range(n), 2))
        if texts[i] != texts[j]:
            out = list(texts)
            out[i], out[j] = out[j], out[i]
            return out, f"steps {i + 1} and {j + 1} swapped"
    if kind == "shuffle" and n >= 3:
        for _ in range(10):
            out = rng.sample(texts, n)
            if out != texts:
                return out, "steps shuffled"
    if kind == "replace" and n >= 1:
        foreign = [t for t in others if t not in texts]
        if foreign:
            i = rng.randrange(n)
            out = list(texts)
            out[i] = rng.choice(foreign)
            return out, f"step {i + 1} replaced by a step of another script"
    return None


def _script_inputs(s: Row) -> dict[str, Any]:
    return {k: s[k] for k in ("objective", "specific_goal", "constraint", "category") if s.get(k)}


def _aligned_product(r: Row) -> dict[str, Any]:
    return product_ref(r["product"], r.get("title"), r.get("image"))


def _hard_negatives(store: GraphStore, nb: Retriever, steps: list[dict[str, Any]], excluded: dict[str, set[str]]) -> dict[str, Any]:
    """step id -> (hit, product) of the best-scoring product near the step's text outside `excluded[script]`."""
    from ...retrieval.retrieve import merge_products

    found = nb.near_intentions([s["text"] for s in steps], SEARCH_WIDTH)
    hits = [{"step": st["id"], "id": g, "score": sc} for st, hs in zip(steps, found) for g, sc in hs]
    by_step: dict[str, list[Row]] = {}
    for r in store.run("task_esb_near_products", {"hits": hits}) if hits else []:
        by_step.setdefault(r["step"], []).append(r)
    out: dict[str, Any] = {}
    for st in steps:
        rows = by_step.get(st["id"], [])
        images = {r["product"]: r.get("image") for r in rows}
        for hit in merge_products(rows, len(rows)):
            if hit.product not in excluded[st["script"]]:
                out[st["id"]] = (hit, product_ref(hit.product, hit.title, images.get(hit.product)))
                break
    return out


def esb_items(
    store: GraphStore,
    settings: Settings | None,
    tasks: list[str],
    *,
    seed: int = 0,
    negatives: int = 1,
    page: int = 200,
    neighbours: Retriever | None = None,
    stats: BuildStats | None = None,
) -> Iterator[Item]:
    stats = stats if stats is not None else BuildStats()
    wanted = set(tasks)
    nb = neighbours
    if nb is None and wanted & {"esb-t2", "esb-t3"}:
        if settings is None:
            raise IntentKBError("esb T2/T3 need settings (the intention index) or neighbours")
        from ...retrieval.retrieve import Retriever

        nb = Retriever(store, settings, hybrid=False)
    previous: list[str] = []  # step texts of the previous page: the 'replace' pool when a page has one script
    try:
        for scripts in keyset_pages(store, "task_esb_scripts_page", page):
            stats.sources += len(scripts)
            texts_of = {s["id"]: [x["text"] for x in sorted(s["steps"], key=lambda x: x["idx"])] for s in scripts}
            page_texts = [t for ts in texts_of.values() for t in ts]
            if "esb-t1" in wanted:
                for s in scripts:
                    yield from _t1(s, texts_of[s["id"]], page_texts + previous, seed, negatives, stats)
            if wanted & {"esb-t2", "esb-t3"}:
                yield from _t2_t3(store, nb, scripts, wanted, seed, stats)
            previous = page_texts
    finally:
        if nb is not None and neighbours is None:
            nb.close()


def _t1(s: Row, texts: list[str], pool: list[str], seed: int, negatives: int, stats: BuildStats) -> Iterator[Item]:
    if len(texts) < 2:
        stats.skip("esb-t1", "script with fewer than 2 steps")
        return
    base = _script_inputs(s)
    step_ids = [x["id"] for x in sorted(s["steps"], key=lambda x: x["idx"])]
    yield make_item("esb-t1", s["id"], base | {"steps": texts}, YES_NO, label="A", group=s["id"], query="task_esb_scripts_page", nodes=[s["id"], *step_ids])
    others = [t for t in pool if t not in texts]
    made: set[tuple[str, ...]] = set()
    for k in range(negatives):
        rng = seeded(seed, "esb-t1", s["id"], str(k))
        start = rng.randrange(len(NEGATIVE_KINDS))
        for kind in NEGATIVE_KINDS[start:] + NEGATIVE_KINDS[:start]:
            broken = _broken(texts, kind, rng, others)
            if broken and tuple(broken[0]) not in made:
                made.add(tuple(broken[0]))
                yield make_item(
                    "esb-t1",
                    f"{s['id']}:{kind}:{short_hash(*broken[0], n=8)}",
                    base | {"steps": broken[0]},
                    YES_NO,
                    label="B",
                    group=s["id"],
                    query="task_esb_scripts_page",
                    nodes=[s["id"], *step_ids],
                    negative=kind,
                    change=broken[1],
                )
                break
        else:
            stats.skip("esb-t1", "no distinct negative could be made")


def _t2_t3(store: GraphStore, nb: Retriever | None, scripts: list[Row], wanted: set[str], seed: int, stats: BuildStats) -> Iterator[Item]:
    assert nb is not None
    by_step: dict[str, list[Row]] = {}
    excluded: dict[str, set[str]] = {s["id"]: set() for s in scripts}
    for r in store.run("task_esb_aligned", {"scripts": [s["id"] for s in scripts]}):
        by_step.setdefault(r["step"], []).append(r)
        excluded[r["script"]].add(r["product"])
    aligned_steps = [{"id": x["id"], "idx": x["idx"], "text": x["text"], "script": s["id"]} for s in scripts for x in s["steps"] if x["id"] in by_step]
    negative = _hard_negatives(store, nb, aligned_steps, excluded)
    for s in scripts:
        steps = sorted(s["steps"], key=lambda x: x["idx"])
        base = _script_inputs(s)
        usable = [x for x in steps if x["id"] in by_step and x["id"] in negative]
        if "esb-t2" in wanted:
            stats.skip("esb-t2", "step without aligned product", sum(x["id"] not in by_step for x in steps))
            stats.skip("esb-t2", "aligned step without an unaligned near product", sum(x["id"] in by_step and x["id"] not in negative for x in steps))
            for x in usable:
                best, (neg, neg_product) = by_step[x["id"]][0], negative[x["id"]]
                common = base | {"step": x["text"], "step_idx": x["idx"]}
                yield make_item(
                    "esb-t2",
                    f"{x['id']}:{best['product']}",
                    common | {"product": _aligned_product(best)},
                    YES_NO,
                    label="A",
                    group=s["id"],
                    query="task_esb_aligned",
                    nodes=[s["id"], x["id"], best["intention"], best["product"]],
                    score=round(best["score"], 4),
                )
                yield make_item(
                    "esb-t2",
                    f"{x['id']}:{neg.product}",
                    common | {"product": neg_product},
                    YES_NO,
                    label="B",
                    group=s["id"],
                    query="task_esb_aligned",
                    nodes=[s["id"], x["id"], neg.intention, neg.product],
                    negative="hard",
                    score=round(neg.score, 4),
                )
        if "esb-t3" in wanted:
            if len(usable) < 2:
                stats.skip("esb-t3", "script with fewer than 2 aligned steps")
                continue
            chosen = {x["id"]: _aligned_product(by_step[x["id"]][0]) for x in usable}
            shown = [{"text": x["text"], "product": chosen.get(x["id"])} for x in steps]
            nodes = [s["id"], *(x["id"] for x in usable), *(p["id"] for p in chosen.values())]
            yield make_item("esb-t3", s["id"], base | {"steps": shown}, YES_NO, label="A", group=s["id"], query="task_esb_aligned", nodes=nodes)
            rng = seeded(seed, "esb-t3", s["id"])
            victim = rng.choice(usable)
            neg, neg_product = negative[victim["id"]]
            broken = [dict(x, product=neg_product) if steps[i]["id"] == victim["id"] else x for i, x in enumerate(shown)]
            yield make_item(
                "esb-t3",
                f"{s['id']}:{victim['id']}:{neg.product}",
                base | {"steps": broken},
                YES_NO,
                label="B",
                group=s["id"],
                query="task_esb_aligned",
                nodes=[*nodes, neg.product],
                negative="hard",
                change=f"product of step {victim['idx']} replaced",
            )


class EsbOptions(BuildOptions):
    negatives: int = Field(default=1, ge=1, le=3, description="broken copies per script (T1).")


def _build(store: GraphStore, settings: Settings | None, tasks: list[str], o: EsbOptions, stats: BuildStats) -> Iterator[Item]:
    return esb_items(store, settings, tasks, seed=o.seed, negatives=o.negatives, page=o.page, stats=stats)


register(
    Benchmark(
        name="esb",
        title="EcomScriptBench",
        tasks={
            "esb-t1": "script verification: real script or one with swapped, shuffled or foreign steps",
            "esb-t2": "step-product discrimination: aligned product or a similar unaligned one",
            "esb-t3": "script-products verification: a product per step, all aligned or one replaced",
        },
        options=EsbOptions,
        build=_build,
        group_intentions="inject_script_aligned",
    )
)
