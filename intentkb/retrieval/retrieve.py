"""`intentkb retrieve`: products for free text or for every step of a script, through intentions.

Free text is embedded and searched against the intention index; each hit intention leads to the
products it explains (co-buy, purchase) or was formed at (session trees). A product reached by
several intentions appears once, with its best score, the intention that gave it and how many
intentions reached it. A script's steps follow their ALIGNED edges when `align steps` has run, so
the answer is the knowledge graph's own path Script → Step → Intention → Product; a step with no
aligned path to a product (or a script never aligned) is searched on the fly with the alignment
threshold, and says so (`source`). Each hit carries `why`, a readable snippet of the intention
that linked it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, computed_field

from ..config import Settings
from ..errors import IntentKBError
from ..kb.store import GraphStore, Row
from ..kb.texts import snippet
from .align import DEFAULT_THRESHOLD, load_intentions_index
from .build import open_embedder
from .embeddings import Embedder, embedding_text
from .index import VectorIndex

MAX_INTENTIONS = 5000  # the widest intention search for one query before giving up on filling k


class ProductHit(BaseModel):
    product: str
    title: str | None
    score: float
    intention: str
    intention_text: str
    kind: str
    via: str
    intentions: int  # how many of the matched intentions lead to this product

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why(self) -> str:
        """The intention that linked the product, readable: boilerplate off, first sentence, short."""
        return snippet(self.intention_text)


class StepProducts(BaseModel):
    step: str
    idx: int
    text: str
    source: str  # "aligned": the step's ALIGNED edges in the graph; "search": embedded and searched now
    products: list[ProductHit]


def merge_products(rows: Iterable[Row], k: int) -> list[ProductHit]:
    """One hit per product: the best-scoring intention wins, ties broken by intention id."""
    best: dict[str, ProductHit] = {}
    seen: dict[str, set[str]] = {}
    for r in rows:
        pid = r["product"]
        seen.setdefault(pid, set()).add(r["intention"])
        cur = best.get(pid)
        if cur is None or (r["score"], cur.intention) > (cur.score, r["intention"]):
            best[pid] = ProductHit(product=pid, title=r.get("title"), score=round(float(r["score"]), 4), intention=r["intention"],
                                   intention_text=r["intention_text"], kind=r["kind"], via=r["via"], intentions=0)
    for pid, hit in best.items():
        hit.intentions = len(seen[pid])
    return sorted(best.values(), key=lambda h: (-h.score, h.product))[:k]


class Retriever:
    """Holds the loaded intention index and the embedder, so that each query costs one encode, one
    FAISS search and one graph query."""

    def __init__(self, store: GraphStore, settings: Settings, *, index: VectorIndex | None = None, embedder: Embedder | None = None) -> None:
        self.store = store
        self.settings = settings
        self.index = index or load_intentions_index(settings)
        self._own_embedder = embedder is None
        self.embedder = embedder or open_embedder(settings)

    def close(self) -> None:
        if self._own_embedder and self.embedder.cache:
            self.embedder.cache.close()

    def __enter__(self) -> "Retriever":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _products(self, vector, k: int, threshold: float | None) -> list[ProductHit]:
        width = max(4 * k, 50)
        while True:
            hits = self.index.search(vector[None, :], min(width, MAX_INTENTIONS), model=self.embedder.key)[0]
            if threshold is not None:
                hits = [(g, s) for g, s in hits if s >= threshold]
            rows = self.store.run("intention_products", {"hits": [{"id": g, "score": s} for g, s in hits]}) if hits else []
            found = merge_products(rows, k)
            exhausted = len(hits) < min(width, self.index.meta.count) or width >= MAX_INTENTIONS
            if len(found) >= k or exhausted:
                return found
            width *= 4

    def retrieve(self, text: str, k: int = 10, *, threshold: float | None = None) -> list[ProductHit]:
        """The `k` products whose intentions are closest to `text`."""
        text = text.strip()
        if not text:
            raise IntentKBError("retrieve: empty text")
        return self._products(self.embedder.encode([embedding_text(text)])[0], k, threshold)

    def retrieve_script(self, script: str, k: int = 10, *, threshold: float = DEFAULT_THRESHOLD) -> list[StepProducts]:
        """Products for every step of `script`, in step order."""
        steps = self.store.run("script_steps", {"script": script})
        if not steps:
            raise IntentKBError(f"no script {script!r} with steps in the graph")
        by_step: dict[str, list[Row]] = {}
        if self.store.run("script_alignment_count", {"script": script})[0]["aligned"]:
            for r in self.store.run("script_aligned_products", {"script": script}):
                by_step.setdefault(r["step"], []).append(r)
        out: dict[str, StepProducts] = {s["id"]: StepProducts(step=s["id"], idx=s["idx"], text=s["text"], source="aligned",
                                                              products=merge_products(by_step[s["id"]], k))
                                        for s in steps if by_step.get(s["id"])}
        # a step no aligned intention leads to a product from is searched now, with the threshold
        rest = [s for s in steps if s["id"] not in out]
        if rest:
            vectors = self.embedder.encode([embedding_text(s["text"]) for s in rest])
            for s, v in zip(rest, vectors):
                out[s["id"]] = StepProducts(step=s["id"], idx=s["idx"], text=s["text"], source="search", products=self._products(v, k, threshold))
        return [out[s["id"]] for s in steps]
