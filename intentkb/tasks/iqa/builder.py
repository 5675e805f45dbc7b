"""IntentionQA-style multiple-choice tasks from the co-buy part of the graph (MIND appendix D–E).

- T1 understanding: a co-bought pair (A, B) -> which of four intentions is theirs?
- T2 utilization: product A and the intention -> which of four products was bought with A?

One question per co-buy intention the role-aware filter did not reject. An intention is shown
without the product names MIND's texts carry after their first sentence (`shown_intention`).
Distractors are drawn, seeded per question, from the intentions near the answer in the intention
index whose cosine similarity lies inside `band`: close enough to be plausible, far enough not to
be a paraphrase.
T1 distractors are co-buy intentions of pairs sharing no product with the question's pair; T2
distractors are products those near intentions lead to, neither in the pair nor co-bought with A.
Option order is shuffled per question; a question short of three distractors is skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ...config import Settings
from ...errors import IntentKBError
from ...kb.queries import keyset_pages
from ...kb.store import GraphStore, Row
from ...kb.texts import first_sentence, strip_boilerplate
from ..items import Item, make_item, product_ref, seeded
from ..registry import Benchmark, BuildOptions, register
from ..stats import BuildStats

if TYPE_CHECKING:
    from ...retrieval.retrieve import Retriever

LETTERS = "ABCD"
DEFAULT_BAND = (0.3, 0.8)
SEARCH_WIDTH = 64  # intentions searched per question for its distractors


def _fold(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".")


_BECAUSE = re.compile(r"\bbecause\s+(.+)$", re.I)


def _names(text: str, titles: list[str]) -> bool:
    """Whether `text` names one of the products (the first three words of its title)."""
    low = text.casefold()
    return any(len(t.split()) >= 2 and " ".join(t.casefold().split()[:3]) in low for t in titles if t)


def _masked(text: str, titles: list[str]) -> str:
    for name, title in zip(("product A", "product B"), titles):
        if title and title.strip():
            text = re.sub(re.escape(title.strip()), name, text, flags=re.I)
    return text


def shown_intention(text: str, assertion: str | None, titles: list[str]) -> str:
    """The intention as a question shows it. MIND's texts name both products after the first
    sentence ("… could be that they are both used for X. The Cisco switch …"), which would give the
    answer away: the first sentence without its lead-in, with the pair's titles (`titles`, in role
    order) replaced by "product A" / "product B"; if that still names a product, the FolkScope
    assertion's reason masked the same way; failing both, the masked first sentence."""
    first = first_sentence(text)
    core = _masked(strip_boilerplate(first), titles)
    if not _names(core, titles):
        return core
    m = _BECAUSE.search(assertion or "")
    if m:
        reason = _masked(m.group(1).strip(), titles)
        if not _names(reason, titles):
            return reason
    return core


def _options(answer: tuple[str, str], distractors: list[tuple[str, str]], rng: Any) -> tuple[dict[str, str], dict[str, str], str]:
    """(letter -> text, letter -> node id, the answer's letter) with the four shuffled."""
    four = [answer, *distractors]
    rng.shuffle(four)
    texts = {LETTERS[i]: t for i, (_, t) in enumerate(four)}
    ids = {LETTERS[i]: g for i, (g, _) in enumerate(four)}
    return texts, ids, LETTERS[four.index(answer)]


def _question(
    task: str, q: Row, answer: tuple[str, str], pool: list[tuple[str, str]], inputs: dict[str, Any], seed: int, group: str, stats: BuildStats, what: str
) -> Iterator[Item]:
    """The item with three distractors drawn (seeded per question) from `pool`, or a counted skip."""
    if len(pool) < 3:
        stats.skip(task, f"fewer than 3 {what}")
        return
    rng = seeded(seed, task, q["id"])
    texts, ids, label = _options(answer, rng.sample(pool, 3), rng)
    yield make_item(task, q["id"], inputs, texts, label=label, group=group, query="task_iqa_cobuy_page", nodes=[q["id"], q["a"], q["b"]], option_nodes=ids)


def iqa_items(
    store: GraphStore,
    settings: Settings | None,
    tasks: list[str],
    *,
    seed: int = 0,
    band: tuple[float, float] = DEFAULT_BAND,
    page: int = 500,
    neighbours: Retriever | None = None,
    stats: BuildStats | None = None,
) -> Iterator[Item]:
    stats = stats if stats is not None else BuildStats()
    wanted = set(tasks)
    lo, hi = band
    if not 0 <= lo < hi <= 1:
        raise IntentKBError(f"band {band}: need 0 <= low < high <= 1")
    if neighbours is not None:
        nb = neighbours
    elif settings is None:
        raise IntentKBError("iqa tasks need settings (the intention index) or neighbours")
    else:
        from ...retrieval.retrieve import Retriever

        nb = Retriever(store, settings, hybrid=False)
    try:
        for rows in keyset_pages(store, "task_iqa_cobuy_page", page):
            stats.sources += len(rows)
            yield from _page(store, nb, rows, wanted, seed, lo, hi, stats)
    finally:
        if neighbours is None:
            nb.close()


def _page(store: GraphStore, nb: Retriever, rows: list[Row], wanted: set[str], seed: int, lo: float, hi: float, stats: BuildStats) -> Iterator[Item]:
    questions = []
    for r in rows:
        if r["a"] is None or r["b"] is None:
            for t in wanted:
                stats.skip(t, "co-buy intention without both products")
        elif r["accepted"] is False:
            for t in wanted:
                stats.skip(t, "intention rejected by the role-aware filter")
        else:
            questions.append(r)
    if not questions:
        return
    hits = nb.near_intentions([q["text"] for q in questions], SEARCH_WIDTH)
    near_ids = sorted({g for hs in hits for g, s in hs if lo <= s <= hi})
    info = {c["id"]: c for c in store.run("task_iqa_candidates", {"ids": near_ids})} if near_ids else {}
    cobought = (
        {c["product"]: set(c["cobought"]) for c in store.run("task_cobought_with", {"products": sorted({q["a"] for q in questions})})}
        if "iqa-t2" in wanted
        else {}
    )  # only T2 keeps A's co-bought products out
    for q, hs in zip(questions, hits):
        pair = {q["a"], q["b"]}
        group = "|".join(sorted(pair))
        near = [info[g] for g, s in hs if lo <= s <= hi and g != q["id"] and g in info]
        a, b = product_ref(q["a"], q["a_title"], q["a_image"]), product_ref(q["b"], q["b_title"], q["b_image"])
        answer = shown_intention(q["text"], q["assertion"], [q["a_title"], q["b_title"]])
        if "iqa-t1" in wanted:
            seen, pool = {_fold(answer)}, []
            for c in near:
                if c["kind"] != "cobuy" or c["accepted"] is False or pair & {p["id"] for p in c["products"]}:
                    continue
                text = shown_intention(c["text"], c["assertion"], [p["title"] for p in c["products"]])
                if _fold(text) not in seen:
                    seen.add(_fold(text))
                    pool.append((c["id"], text))
            yield from _question(
                "iqa-t1",
                q,
                (q["id"], answer),
                pool,
                {"product_a": a, "product_b": b, "relation": q["relation"]},
                seed,
                group,
                stats,
                f"distractors in the similarity band [{lo}, {hi}]",
            )
        if "iqa-t2" in wanted:
            blocked = pair | cobought.get(q["a"], set())
            seen, pool = {_fold(b["title"])}, []
            for c in near:
                for p in c["products"]:
                    title = p["title"] or p["id"]
                    if p["id"] not in blocked and _fold(title) not in seen:
                        seen.add(_fold(title))
                        pool.append((p["id"], title))
            yield from _question(
                "iqa-t2",
                q,
                (q["b"], b["title"]),
                pool,
                {"product_a": a, "intention": answer, "relation": q["relation"]},
                seed,
                group,
                stats,
                f"distractor products in the similarity band [{lo}, {hi}]",
            )


class IqaOptions(BuildOptions):
    band: tuple[float, float] = Field(default=DEFAULT_BAND, description="cosine similarity band of distractors (low,high).")


def _build(store: GraphStore, settings: Settings | None, tasks: list[str], o: IqaOptions, stats: BuildStats) -> Iterator[Item]:
    return iqa_items(store, settings, tasks, seed=o.seed, band=o.band, page=max(o.page, 500), stats=stats)


register(
    Benchmark(
        name="iqa",
        title="IntentionQA-style",
        tasks={
            "iqa-t1": "intention understanding: co-bought pair -> its intention among 4",
            "iqa-t2": "intention utilization: product + intention -> the co-bought product among 4",
        },
        options=IqaOptions,
        build=_build,
        answer="letter",  # its few-shot answers are the letter alone
    )
)
