"""`intentkb report quality`: how much of the graph's knowledge is duplicated, generic, thin or malformed.

Read from the store (any engine) through named queries, measured by module `measures`, sliced per
pipeline (`kind`), per relation and per source. Embeddings come from the configured embedder and
its cache (the intention index's build has usually embedded every text already).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel

from ..config import Settings
from ..kb.queries import keyset_pages
from ..kb.store import GraphStore, Row
from ..retrieval.embeddings import embedding_text, open_embedder
from .measures import GENERIC_MIN_PAIRS, NEAR_DUPLICATE, core, distinct_n, generic_phrases, histogram, near_duplicates

TOP_PHRASES = 15


class Slice(BaseModel):
    name: str
    intentions: int
    accepted_share: float | None  # of those with a filter verdict
    near_duplicate_share: float
    generic_share: float
    distinct_1: float | None
    distinct_2: float | None
    critic_mean: float | None


class GenericPhrase(BaseModel):
    phrase: str
    intentions: int
    unrelated_pairs: int
    pairs: list[str]  # a few of the pairs it is said of ("A|B")


class Problem(BaseModel):
    problem: str
    label: str
    n: int


class QualityReport(BaseModel):
    graph: str
    intentions: int
    overall: Slice
    by_pipeline: list[Slice]
    by_relation: list[Slice]
    by_source: list[Slice]
    near_duplicate_cosine: float = NEAR_DUPLICATE
    generic_min_pairs: int = GENERIC_MIN_PAIRS
    generic: list[GenericPhrase]
    products: int
    products_without_intention: int
    intentions_per_product: dict[int, int]  # intentions linked → products with that many
    steps: int
    steps_unaligned: int
    sessions: int
    trajectories_per_session: dict[int, int]  # trajectories → sessions with that many
    schema_problems: list[Problem]
    critic_scores: list[tuple[float, float, int]] | None  # (low, high, intentions) when a critic scored any
    seconds: float

    def lines(self) -> list[str]:
        def pct(x: float | None) -> str:
            return "-" if x is None else f"{x:.1%}"

        def row(s: Slice) -> str:
            d1 = "-" if s.distinct_1 is None else f"{s.distinct_1:.3f}"
            d2 = "-" if s.distinct_2 is None else f"{s.distinct_2:.3f}"
            return (
                f"  {s.name[:24]:<24} {s.intentions:>8,} {pct(s.accepted_share):>9} {pct(s.near_duplicate_share):>9} {pct(s.generic_share):>8} {d1:>7} {d2:>7}"
            )

        head = f"  {'slice':<24} {'intents':>8} {'accepted':>9} {'near-dup':>9} {'generic':>8} {'dist-1':>7} {'dist-2':>7}"
        out = [f"knowledge quality of graph {self.graph}: {self.intentions:,} intentions", head, row(self.overall)]
        for title, slices in (("per pipeline", self.by_pipeline), ("per relation", self.by_relation), ("per source", self.by_source)):
            out.append(f" {title}:")
            out.extend(row(s) for s in slices)
        out.append(f" generic phrases (said of ≥ {self.generic_min_pairs} pairs sharing no product), top {len(self.generic)}:")
        out.extend(f"  {g.unrelated_pairs:>5} pairs  {g.intentions:>5} intentions  “{g.phrase}”" for g in self.generic)
        per = [n for n, c in self.intentions_per_product.items() for _ in range(c)]
        out.append(
            f" coverage: {self.products_without_intention:,} of {self.products:,} products have no intention "
            f"(median {statistics.median(per) if per else 0:g} intentions a product); "
            f"{self.steps_unaligned:,} of {self.steps:,} steps have no aligned intention; {self.sessions:,} sessions"
            + (
                f", median {statistics.median([n for n, c in self.trajectories_per_session.items() for _ in range(c)]):g} trajectories each"
                if self.sessions
                else ""
            )
        )
        bad = [p for p in self.schema_problems if p.n]
        out.append(" schema: " + ("; ".join(f"{p.n:,} × {p.problem} ({p.label})" for p in bad) if bad else "every node has its required properties and links"))
        if self.critic_scores:
            out.append(" critic scores: " + "  ".join(f"[{lo:.1f},{hi:.1f}) {n}" for lo, hi, n in self.critic_scores))
        return out


def _slice(name: str, idx: list[int], rows: list[Row], dup: np.ndarray, generic: set[int]) -> Slice:
    verdicts = [rows[i]["accepted"] for i in idx if rows[i]["accepted"] is not None]
    critic = [float(rows[i]["critic_score"]) for i in idx if rows[i]["critic_score"] is not None]
    texts = [embedding_text(rows[i]["text"] or "") for i in idx]
    n = len(idx) or 1
    return Slice(
        name=name,
        intentions=len(idx),
        accepted_share=round(sum(bool(v) for v in verdicts) / len(verdicts), 4) if verdicts else None,
        near_duplicate_share=round(float(dup[idx].sum()) / n, 4) if idx else 0.0,
        generic_share=round(sum(i in generic for i in idx) / n, 4),
        distinct_1=distinct_n(texts, 1),
        distinct_2=distinct_n(texts, 2),
        critic_mean=round(statistics.fmean(critic), 4) if critic else None,
    )


def quality_report(store: GraphStore, settings: Settings, *, echo: Callable[[str], None] | None = None, progress: bool = False) -> QualityReport:
    """Every measure of the report over the whole graph."""
    started = time.monotonic()
    rows: list[Row] = [r for page in keyset_pages(store, "quality_intentions_page", 5000) for r in page if r["text"]]
    pairs = [frozenset(r["products"] or []) for r in rows]
    cores = [core(r["text"], r["assertion"]) for r in rows]
    phrases = generic_phrases(cores, pairs)
    generic = {i for _, _, _, idx in phrases for i in idx}
    dup = np.zeros(len(rows), dtype=bool)
    if rows:
        embedder = open_embedder(settings, progress=progress, echo=echo)
        try:
            vectors = np.asarray(embedder.encode([embedding_text(r["text"] or "") for r in rows]))
        finally:
            if embedder.cache:
                embedder.cache.close()
        groups = [([f"pair:{'|'.join(sorted(p))}"] if len(p) > 1 else []) + ([f"rel:{r['relation']}"] if r["relation"] else []) for r, p in zip(rows, pairs)]
        dup = near_duplicates(vectors, groups)

    def slices(key: str) -> list[Slice]:
        by: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            by[str(r[key]) if r[key] is not None else "(none)"].append(i)
        return [_slice(k, v, rows, dup, generic) for k, v in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0]))]

    per_product = {int(r["intentions"]): int(r["products"]) for r in store.run("quality_product_coverage")}
    steps = store.run("quality_step_coverage")
    per_session = {int(r["trajectories"]): int(r["sessions"]) for r in store.run("quality_session_trajectories")}
    critic = [float(r["critic_score"]) for r in rows if r["critic_score"] is not None]
    return QualityReport(
        graph=settings.graph_name,
        intentions=len(rows),
        overall=_slice("all", list(range(len(rows))), rows, dup, generic),
        by_pipeline=slices("kind"),
        by_relation=slices("relation"),
        by_source=slices("source"),
        generic=[
            GenericPhrase(phrase=c, intentions=n, unrelated_pairs=u, pairs=sorted({"|".join(sorted(pairs[i])) for i in idx})[:5])
            for c, n, u, idx in phrases[:TOP_PHRASES]
        ],
        products=sum(per_product.values()),
        products_without_intention=per_product.get(0, 0),
        intentions_per_product=per_product,
        steps=int(steps[0]["steps"] or 0) if steps else 0,
        steps_unaligned=int(steps[0]["unaligned"] or 0) if steps else 0,
        sessions=sum(per_session.values()),
        trajectories_per_session=per_session,
        schema_problems=[Problem(problem=r["problem"], label=r["label"] or "(no label)", n=int(r["n"])) for r in store.run("quality_schema")],
        critic_scores=histogram(critic) if critic else None,
        seconds=round(time.monotonic() - started, 1),
    )
