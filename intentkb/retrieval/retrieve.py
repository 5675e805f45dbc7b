"""`intentkb retrieve`: products for free text or for every step of a script, through intentions.

Free text is embedded and searched against the intention index; each hit intention leads to the
products it explains (co-buy, purchase) or was formed at (session trees). A product reached by
several intentions appears once, with its best score, the intention that gave it and how many
intentions reached it. A script's steps follow their ALIGNED edges when `align steps` has run, so
the answer is the knowledge graph's own path Script → Step → Intention → Product; a step with no
aligned path to a product (or a script never aligned) is searched on the fly with the alignment
threshold, and says so (`source`). Each hit carries `why`, a readable snippet of the intention
that linked it. With a product index (`index build` makes one), both are fused with the direct
path over the products' own texts (module `fusion`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from ..config import Settings
from ..errors import IntentKBError
from ..kb.store import GraphStore, Row
from .align import DEFAULT_THRESHOLD, load_intentions_index
from .build import index_dir, open_embedder, settings_key
from .embeddings import Embedder, embedding_text
from .fusion import WEAK_INTENTION, ProductHit, fuse
from .index import VectorIndex

MAX_INTENTIONS = 5000  # the widest intention search for one query before giving up on filling k


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
            score = round(float(r["score"]), 4)
            best[pid] = ProductHit(product=pid, title=r.get("title"), score=score, intention=r["intention"],
                                   intention_text=r["intention_text"], kind=r["kind"], via=r["via"], intentions=0,
                                   intention_score=score, paths=["intention"], weak=score < WEAK_INTENTION)
    for pid, hit in best.items():
        hit.intentions = len(seen[pid])
    return sorted(best.values(), key=lambda h: (-h.score, h.product))[:k]


class Retriever:
    """Holds the loaded intention index and the embedder, so that each query costs one encode, one
    FAISS search and one graph query."""

    def __init__(self, store: GraphStore, settings: Settings, *, index: VectorIndex | None = None, embedder: Embedder | None = None,
                 products: VectorIndex | None = None, hybrid: bool = True) -> None:
        self.store = store
        self.settings = settings
        self.index = index or load_intentions_index(settings)
        self.products = products
        if products is None and hybrid and (index_dir(settings, "products") / "meta.json").exists():
            self.products = VectorIndex.load(index_dir(settings, "products"), model=settings_key(settings))
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

    def _fused(self, vector: Any, by_intention: list[ProductHit], k: int) -> list[ProductHit]:
        """Both paths fused (module `fusion`); the intention path alone when there is no product index."""
        if self.products is None:
            return by_intention[:k]
        direct = self.products.search(vector[None, :], max(2 * k, 20), model=self.embedder.key)[0]
        known = {h.product for h in by_intention}
        missing = [p for p, _ in direct if p not in known]
        titles = {r["id"]: r["title"] for r in self.store.run("product_titles", {"ids": missing})} if missing else {}
        return fuse(by_intention, direct, titles, k, weak_product=self.products.meta.weak_below)

    def retrieve(self, text: str, k: int = 10, *, threshold: float | None = None) -> list[ProductHit]:
        """The `k` products that serve `text`: through intentions and through their own texts, fused."""
        text = text.strip()
        if not text:
            raise IntentKBError("retrieve: empty text")
        vector = self.embedder.encode([embedding_text(text)])[0]
        if self.products is None:
            return self._products(vector, k, threshold)
        return self._fused(vector, self._products(vector, max(2 * k, 20), threshold), k)

    def retrieve_script(self, script: str, k: int = 10, *, threshold: float = DEFAULT_THRESHOLD) -> list[StepProducts]:
        """Products for every step of `script`, in step order."""
        steps = self.store.run("script_steps", {"script": script})
        if not steps:
            raise IntentKBError(f"no script {script!r} with steps in the graph")
        by_step: dict[str, list[Row]] = {}
        if self.store.run("script_alignment_count", {"script": script})[0]["aligned"]:
            for r in self.store.run("script_aligned_products", {"script": script}):
                by_step.setdefault(r["step"], []).append(r)
        width = max(2 * k, 20) if self.products is not None else k
        # steps are embedded only when something searches with them: a step without an aligned
        # path, or the direct path (an aligned script without a product index needs no model)
        need = [s for s in steps if self.products is not None or not by_step.get(s["id"])]
        vectors = dict(zip((s["id"] for s in need), self.embedder.encode([embedding_text(s["text"]) for s in need]))) if need else {}
        out = []
        for s in steps:
            # the graph's own path when the step has one; else searched now, with the threshold
            aligned = bool(by_step.get(s["id"]))
            path = merge_products(by_step[s["id"]], width) if aligned else self._products(vectors[s["id"]], width, threshold)
            products = self._fused(vectors[s["id"]], path, k) if self.products is not None else path[:k]
            out.append(StepProducts(step=s["id"], idx=s["idx"], text=s["text"], source="aligned" if aligned else "search",
                                    products=products))
        return out
