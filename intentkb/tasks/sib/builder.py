"""SessionIntentBench tasks T1–T4 cut from intention trajectories (paper §3.1, §5).

For a trajectory I_1..I_T over the session's products P_1..P_T, at step t:

- T1: history P_1..P_{t-1}, intention I_{t-1}, masked product P_t  -> likelihood A/B/C/D (t >= 2)
- T2: history, valued attribute A_{t-1} of P_{t-1}, masked P_t      -> likelihood A/B/C/D (t >= 2)
- T3: history P_1..P_t, I_{t-1}, I_t, comparison C_t of P_{t-1}, P_t -> plausibility A/B/C/D (t >= 2)
- T4: history P_1..P_t, intention I_t -> same category / other features / other category (A/B/C)

`end` mode asks at t = T only (the paper's annotated set); `every` mode at every step (the task
pool). The paths come from the `trajectories` query, the nodes' content from `task_sib_nodes`,
one page of sessions at a time. A question depends only on the nodes it shows: T1/T2 on I_{t-1}
(P_t follows from it), T3/T4 on I_t. Trajectories sharing a prefix therefore pose the same
question, which is yielded once (its id is the node's); the count of such repeats is reported.
Unlabelled: labels come from annotation (`annotations import`, then `tasks export --labels`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from ...config import Settings
from ...kb.queries import iter_session_ids
from ...kb.store import GraphStore, Row
from ..items import EVOLUTION, LIKELIHOOD, POSITIVE_EVOLUTION, POSITIVE_LIKELIHOOD, Item, make_item
from ..registry import Benchmark, BuildOptions, register
from ..stats import BuildStats

Mode = Literal["end", "every"]


def _product(rows: dict[str, Row], pid: str | None) -> dict[str, Any]:
    r = rows.get(pid or "")
    if r is None:
        return {"id": pid, "title": pid}
    return {k: v for k, v in r.items() if v is not None} | ({} if r.get("title") else {"title": pid})


def _node(r: Row) -> dict[str, Any]:
    return {
        "id": r["id"],
        "text": r["text"],
        "attribute": r["attribute"],
        "product": r["product"],
        "comparison": ({"aspect": r["comparison_aspect"], "text": r["comparison"]} if r["comparison"] else None),
    }


def _items_at(session: str, path: list[dict[str, Any]], products: list[dict[str, Any]], t: int, tasks: set[str], stats: BuildStats) -> Iterator[Item]:
    """The items asked at step t (1-based) of one trajectory."""
    cur = path[t - 1]
    history_t = products[:t]
    if t >= 2:
        prev = path[t - 2]
        history, target = products[: t - 1], products[t - 1]
        nodes = [prev["id"], *(p["id"] for p in products[:t])]
        if "sib-t1" in tasks:
            yield make_item(
                "sib-t1",
                prev["id"],
                {"session": session, "step": t, "history": history, "intention": prev["text"], "product": target},
                LIKELIHOOD,
                label=None,
                positive=POSITIVE_LIKELIHOOD,
                group=session,
                query="trajectories",
                nodes=nodes,
            )
        if "sib-t2" in tasks:
            if prev["attribute"]:
                yield make_item(
                    "sib-t2",
                    prev["id"],
                    {
                        "session": session,
                        "step": t,
                        "history": history,
                        "attribute": prev["attribute"],
                        "attribute_product": products[t - 2],
                        "product": target,
                    },
                    LIKELIHOOD,
                    label=None,
                    positive=POSITIVE_LIKELIHOOD,
                    group=session,
                    query="trajectories",
                    nodes=nodes,
                )
            else:
                stats.skip("sib-t2", "no valued attribute on I(t-1)")
        if "sib-t3" in tasks:
            if cur["comparison"]:
                yield make_item(
                    "sib-t3",
                    cur["id"],
                    {
                        "session": session,
                        "step": t,
                        "history": history_t,
                        "previous_product": products[t - 2],
                        "product": target,
                        "previous_intention": prev["text"],
                        "intention": cur["text"],
                        "comparison": cur["comparison"],
                    },
                    LIKELIHOOD,
                    label=None,
                    positive=POSITIVE_LIKELIHOOD,
                    group=session,
                    query="trajectories",
                    nodes=[prev["id"], cur["id"], *(p["id"] for p in history_t)],
                )
            else:
                stats.skip("sib-t3", "no comparison on I(t)")
    if "sib-t4" in tasks:
        yield make_item(
            "sib-t4",
            cur["id"],
            {"session": session, "step": t, "history": history_t, "intention": cur["text"]},
            EVOLUTION,
            label=None,
            positive=POSITIVE_EVOLUTION,
            group=session,
            query="trajectories",
            nodes=[cur["id"], *(p["id"] for p in history_t)],
        )


def sib_items(
    store: GraphStore, tasks: list[str], mode: Mode = "end", *, page: int = 200, sessions: list[str] | None = None, stats: BuildStats | None = None
) -> Iterator[Item]:
    """SessionIntentBench items of every session (or of `sessions`), streamed a page of sessions
    at a time: memory holds one page's trees, whatever the forest's size."""
    stats = stats if stats is not None else BuildStats()
    wanted = set(tasks)
    source: Iterator[str] = iter(sessions) if sessions is not None else iter_session_ids(store, page=max(page, 500))
    chunk: list[str] = []

    def run(chunk: list[str]) -> Iterator[Item]:
        nodes = {r["id"]: _node(r) for r in store.run("task_sib_nodes", {"sessions": chunk})}
        prods = {r["id"]: r for r in store.run("task_sib_products", {"sessions": chunk})}
        seen: set[str] = set()
        for row in store.run("trajectories", {"sessions": chunk}):
            stats.trajectories += 1
            session = row["session"]
            path = [nodes[i] for i in row["intentions"]]
            products = [_product(prods, n["product"]) for n in path]
            steps = range(len(path), len(path) + 1) if mode == "end" else range(1, len(path) + 1)
            for t in steps:
                for item in _items_at(session, path, products, t, wanted, stats):
                    if item["id"] in seen:
                        stats.repeats += 1
                        continue
                    seen.add(item["id"])
                    yield item

    for sid in source:
        chunk.append(sid)
        if len(chunk) >= page:
            yield from run(chunk)
            chunk = []
    if chunk:
        yield from run(chunk)


class SibOptions(BuildOptions):
    mode: Mode = Field(default="end", description="ask at the end of each trajectory (the annotated set) or at every step (the task pool).")


def _build(store: GraphStore, settings: Settings | None, tasks: list[str], o: SibOptions, stats: BuildStats) -> Iterator[Item]:
    return sib_items(store, tasks, o.mode, page=o.page, stats=stats)


register(
    Benchmark(
        name="sib",
        title="SessionIntentBench",
        tasks={
            "sib-t1": "intent-based purchase likelihood: history, intention I(t-1), masked product P(t)",
            "sib-t2": "purchase likelihood via the valued attribute A(t-1)",
            "sib-t3": "intention justification by the comparison C(t) of P(t-1) and P(t)",
            "sib-t4": "intention evolution: same category / other features / other category after I(t)",
        },
        options=SibOptions,
        build=_build,
    )
)
