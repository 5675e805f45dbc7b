"""How `retrieve` combines its two paths to products.

- **Intention path** (the knowledge graph's): the text is matched to intentions, each intention
  leads to the products it explains or was formed at. A product's score is its best intention's cosine.
- **Direct path**: the text is matched to the products' own texts (title, category, brand,
  attributes) in the product index. It reaches products no intention explains yet, such as a
  catalogue freshly loaded.

The two rankings are fused by reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009):
a product's fused score is the sum over the paths that vouch for it of 1 / (60 + its rank among
what that path vouches for), so agreement between the paths counts and neither path's cosine scale
has to match the other's. A path vouches for a product when its score reaches the path's cut (below).
A co-buy intention explains two products at once; when both are hits and that intention is the best
of each, they are one hit (`pair`). A hit is **weak** when neither path vouches for it — its
intention cosine is below the alignment threshold (0.45, EcomScriptBench's for SentenceBERT) and its
product-text cosine below the product index's calibrated cut (`index build` sets it from the
graph's own intention → product links; see `build.calibrate_weak`) — and weak hits come after
every strong one, marked as such rather than presented as answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, computed_field

from ..kb.texts import snippet

RRF_K = 60
WEAK_INTENTION = 0.45


class ProductHit(BaseModel):
    product: str
    title: str | None
    score: float  # the ranking score: fused (retrieve) or the intention's cosine (intention path alone)
    intention: str = ""
    intention_text: str = ""
    kind: str = "product"
    via: str = "PRODUCT_TEXT"
    intentions: int = 0  # how many of the matched intentions lead to this product
    intention_score: float | None = None
    product_score: float | None = None
    paths: list[str] = []
    weak: bool = False
    rerank_score: float | None = None  # the reranker's P(answers the query), when one re-ordered the hits
    pair: str | None = None  # the other product of a co-buy pair whose one intention led to both
    pair_title: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why(self) -> str:
        """Why it was found, readable: the linking intention's snippet, or the product's own text."""
        return snippet(self.intention_text) if self.intention_text else "its own title, category and attributes match"


def fuse(
    by_intention: Sequence[ProductHit],
    direct: Sequence[tuple[str, float]],
    titles: dict[str, str | None],
    k: int,
    *,
    weak_product: float | None,
    weak_intention: float = WEAK_INTENTION,
) -> list[ProductHit]:
    """The `k` best hits of both paths by reciprocal rank fusion, pairs merged, weak ones marked.

    A path votes only for the products it vouches for (its score at or above its cut), ranked among
    those: a path's rank 1 of a poor match must not outweigh the other path's confident answer.
    Weak hits (no vouching path) follow the strong ones, ordered by their plain fused ranks."""
    # plain records until the `k` kept are known: a served batch fuses ~40 candidates a query, and
    # pydantic attribute writes on each were a third of its time
    cands: dict[str, _Cand] = {}
    for rank, h in enumerate(by_intention, start=1):
        cands[h.product] = _Cand(h, h.title, h.score, None, ["intention"], 1.0 / (RRF_K + rank))
    for rank, (pid, cos) in enumerate(direct, start=1):
        c = cands.get(pid)
        if c is None:
            c = cands[pid] = _Cand(None, titles.get(pid), None, None, [], 0.0)
        c.product_score = round(cos, 4)
        c.paths = [*c.paths, "product"]
        c.plain += 1.0 / (RRF_K + rank)
    vouched_i = [(c.intention_score, pid) for pid, c in cands.items() if c.intention_score is not None and c.intention_score >= weak_intention]
    vouched_p = [
        (c.product_score, pid) for pid, c in cands.items() if c.product_score is not None and weak_product is not None and c.product_score >= weak_product
    ]
    for vouched in (vouched_i, vouched_p):
        for rank, (_, pid) in enumerate(sorted(vouched, key=lambda x: (-x[0], x[1])), start=1):
            cands[pid].score += 1.0 / (RRF_K + rank)
    for c in cands.values():
        c.weak = c.score == 0.0
        c.score = round(c.score if not c.weak else c.plain / 100, 6)  # weak ones always below every strong one
    ranked = sorted(cands.items(), key=lambda x: (x[1].weak, -x[1].score, x[0]))
    out: list[ProductHit] = []
    taken: dict[str, ProductHit] = {}  # co-buy intention id -> the hit it already gave
    for pid, c in ranked:
        kind, intention = (c.hit.kind, c.hit.intention) if c.hit is not None else ("product", "")
        first = taken.get(intention) if kind == "cobuy" and intention else None
        if first is not None and first.pair is None:
            first.pair, first.pair_title = pid, c.title
            continue
        hit = c.build(pid)
        if kind == "cobuy" and intention:
            taken.setdefault(intention, hit)
        out.append(hit)
        if len(out) == k:
            break
    return out


class _Cand:
    """One candidate product while the paths are fused."""

    __slots__ = ("hit", "intention_score", "paths", "plain", "product_score", "score", "title", "weak")

    def __init__(
        self, hit: ProductHit | None, title: str | None, intention_score: float | None, product_score: float | None, paths: list[str], plain: float
    ) -> None:
        self.hit, self.title, self.intention_score, self.product_score = hit, title, intention_score, product_score
        self.paths, self.plain, self.score, self.weak = paths, plain, 0.0, False

    def build(self, pid: str) -> ProductHit:
        if self.hit is not None:
            fields = {"score": self.score, "intention_score": self.intention_score, "product_score": self.product_score, "paths": self.paths, "weak": self.weak}
            return self.hit.model_copy(update=fields)
        return ProductHit(
            product=pid,
            title=self.title,
            score=self.score,
            intention_score=self.intention_score,
            product_score=self.product_score,
            paths=self.paths,
            weak=self.weak,
        )


class StepProducts(BaseModel):
    """One step of a script with its products (here, beside the hits: the CLI reads a served answer
    into these models without importing the retrieval machinery)."""

    step: str
    idx: int
    text: str
    source: str  # "aligned": the step's ALIGNED edges in the graph; "search": embedded and searched now
    products: list[ProductHit]
