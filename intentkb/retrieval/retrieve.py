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

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import IntentKBError
from ..kb.guard import need_text
from ..kb.store import GraphStore, Row
from .align import DEFAULT_THRESHOLD
from .embeddings import Embedder, embedding_text, open_embedder, settings_key
from .fusion import WEAK_INTENTION, ProductHit, StepProducts, fuse
from .graph_vectors import GraphVectorIndex, graph_meta_dir
from .index import VectorIndex, index_dir, load_intentions_index
from .link_table import VIAS, LinkTable, ensure_table, graph_counts
from .rerank import Reranker

MAX_INTENTIONS = 5000  # the widest intention search for one query before giving up on filling k
RERANK_DEPTH = 30  # candidates a reranker reads per query
LINK_CHECK_S = 1.0  # a long-lived retriever checks its link table against the graph at most this often


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
            best[pid] = ProductHit(
                product=pid,
                title=r.get("title"),
                score=score,
                intention=r["intention"],
                intention_text=r.get("intention_text") or "",
                kind=r["kind"],
                via=r["via"],
                intentions=0,
                intention_score=score,
                paths=["intention"],
                weak=score < WEAK_INTENTION,
            )
    for pid, hit in best.items():
        hit.intentions = len(seen[pid])
    return sorted(best.values(), key=lambda h: (-h.score, h.product))[:k]


class Retriever:
    """Holds the loaded intention index and the embedder, so that each query costs one encode, one
    FAISS search and one graph query."""

    def __init__(
        self,
        store: GraphStore,
        settings: Settings,
        *,
        index: VectorIndex | None = None,
        embedder: Embedder | None = None,
        products: VectorIndex | None = None,
        hybrid: bool = True,
        reranker: Reranker | None = None,
        mmap: bool = False,
    ) -> None:
        """`mmap`: the saved indexes are mapped read-only, not read into memory (a server's)."""
        self.store = store
        self.reranker = reranker  # when set, every answer is re-ordered by it (module `rerank`)
        self.settings = settings
        in_graph = index is None and settings.vector_backend == "graph"  # the graph's own vector index (module `graph_vectors`)
        # the intention → product links held beside a saved FAISS index (module `link_table`); an
        # index given in memory, or the graph's, has none and asks the graph
        self.index: VectorIndex | GraphVectorIndex
        self.links: LinkTable | None = None
        if in_graph:
            self.index = GraphVectorIndex.load(store, settings, "intentions", settings_key(settings))
        else:
            self.index = faiss_index = index or self._intentions_index(store, settings, mmap)
            self.links = ensure_table(store, index_dir(settings, "intentions"), faiss_index.ids, digest=faiss_index.meta.ids_digest) if index is None else None
        self._links_checked = time.monotonic()
        self.products: VectorIndex | GraphVectorIndex | None = products
        if products is None and hybrid and in_graph and (graph_meta_dir(settings, "products") / "meta.json").exists():
            self.products = GraphVectorIndex.load(store, settings, "products", settings_key(settings))
        elif products is None and hybrid and not in_graph and (index_dir(settings, "products") / "meta.json").exists():
            self.products = VectorIndex.load(index_dir(settings, "products"), model=settings_key(settings), mmap=mmap)
        self._own_embedder = embedder is None
        self.embedder = embedder or open_embedder(settings)

    @staticmethod
    def _intentions_index(store: GraphStore, settings: Settings, mmap: bool) -> VectorIndex:
        """The intention index; when there is none because the knowledge base is empty, say that
        (a user who ran the commands a temporary demo printed got "no index", not the cause)."""
        try:
            return load_intentions_index(settings, mmap=mmap)
        except IntentKBError:
            if store.is_empty():
                raise IntentKBError(
                    f"the knowledge base in {settings.data_dir} (graph {settings.graph_name}) is empty: load data first "
                    "(`intentkb demo --data-dir DIR` then INTENTKB_HOME=DIR, or `intentkb ingest …`), then `intentkb index build`"
                ) from None
            raise

    def close(self) -> None:
        if self._own_embedder and self.embedder.cache:
            self.embedder.cache.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def near_intentions(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """The `k` intentions nearest each text (id, cosine): where the task builders' hard negatives
        and distractors come from, through the same index and embedding cache as retrieval."""
        if not texts:
            return []
        vectors = self.embedder.encode([embedding_text(t) for t in texts])
        return self.index.search(vectors, min(k, self.index.meta.count), model=self.embedder.key)

    def _products(self, vector: Any, k: int, threshold: float | None) -> list[ProductHit]:
        return self._products_many(np.asarray(vector)[None, :], k, threshold)[0]

    def _products_many(self, vectors: np.ndarray, k: int, threshold: float | None) -> list[list[ProductHit]]:
        """The intention path for several queries: one FAISS search and one graph query per round;
        a query whose intentions lead to fewer than `k` products is searched again, wider."""
        out: list[list[ProductHit]] = [[] for _ in range(len(vectors))]
        pending = list(range(len(vectors)))
        width = max(4 * k, 50)
        self._fresh_links()
        if self.links is not None:
            return self._products_from_table(vectors, k, threshold)
        while pending:
            found_hits = self.index.search(vectors[pending], min(width, MAX_INTENTIONS), model=self.embedder.key)
            batch = []
            for q, hits in zip(pending, found_hits):
                kept = [(g, s) for g, s in hits if threshold is None or s >= threshold]
                batch.append((q, kept, len(hits)))
            params = [{"id": g, "score": s, "q": q} for q, kept, _ in batch for g, s in kept]
            rows: dict[int, list[Row]] = {}
            for r in self.store.run("intention_products", {"hits": params}) if params else []:
                rows.setdefault(r["q"], []).append(r)
            still = []
            for q, _, n_hits in batch:
                out[q] = merge_products(rows.get(q, []), k)
                exhausted = n_hits < min(width, self.index.meta.count) or width >= MAX_INTENTIONS
                if len(out[q]) < k and not exhausted:
                    still.append(q)
            pending = still
            width *= 4
        self._texts(out)
        return out

    def _fresh_links(self) -> None:
        """A long-lived retriever (a server) checks the table against the graph's counts at most
        every `LINK_CHECK_S`; a stale table is read again before it answers."""
        if self.links is not None and time.monotonic() - self._links_checked >= LINK_CHECK_S:
            assert isinstance(self.index, VectorIndex)  # a link table is a FAISS index's
            if self.links.meta.counts != graph_counts(self.store):  # the index it belongs to is this retriever's: only the graph can move
                self.links = ensure_table(self.store, index_dir(self.settings, "intentions"), self.index.ids, digest=self.index.meta.ids_digest)
            self._links_checked = time.monotonic()

    def _products_from_table(self, vectors: np.ndarray, k: int, threshold: float | None, checked: bool = False) -> list[list[ProductHit]]:
        """The intention path on the link table; every hit kept is checked against the graph (with
        the texts it shows, in one query): a link the graph no longer has means the table is stale,
        and it is read again and the queries answered again, once; what is still missing is dropped."""
        assert self.links is not None
        out: list[list[ProductHit]] = [[] for _ in range(len(vectors))]
        pending, width = list(range(len(vectors))), max(4 * k, 50)
        while pending:
            pending = self._from_table(vectors, pending, out, width, k, threshold)
            width *= 4
        pairs = sorted({(h.intention, h.product) for hits in out for h in hits})
        rows = (
            {(r["intention"], r["product"]): r for r in self.store.run("link_check", {"pairs": [{"intention": i, "product": p} for i, p in pairs]})}
            if pairs
            else {}
        )
        if len(rows) < len(pairs) and not checked:
            assert isinstance(self.index, VectorIndex)
            self.links = ensure_table(self.store, index_dir(self.settings, "intentions"), self.index.ids, digest=self.index.meta.ids_digest, rebuild=True)
            self._links_checked = time.monotonic()
            return self._products_from_table(vectors, k, threshold, checked=True)
        for hits in out:
            hits[:] = [h for h in hits if (h.intention, h.product) in rows]
            for h in hits:
                r = rows[(h.intention, h.product)]
                h.title, h.intention_text = r["title"], r["text"] or ""
        return out

    def _from_table(self, vectors: np.ndarray, pending: list[int], out: list[list[ProductHit]], width: int, k: int, threshold: float | None) -> list[int]:
        """One round of the intention path on the link table; the queries still short of `k`."""
        assert self.links is not None and isinstance(self.index, VectorIndex)
        wanted = min(width, MAX_INTENTIONS)
        scores, positions = self.index.search_positions(vectors[pending], wanted, model=self.embedder.key)
        found_per_query = (positions >= 0).sum(axis=1)
        if threshold is not None:
            positions = np.where(scores >= threshold, positions, -1)
        found = self.links.products_for(positions, scores, k)
        kinds, ids = self.links.meta.kinds, self.index.ids
        still = []
        for q, row, n_hits in zip(pending, found, found_per_query):
            out[q] = [
                ProductHit(
                    product=pid,
                    title=None,
                    score=score,
                    intention=str(ids[pos]),
                    kind=kinds[kind],
                    via=VIAS[via],
                    intentions=reached,
                    intention_score=score,
                    paths=["intention"],
                    weak=score < WEAK_INTENTION,
                )
                for pid, score, pos, via, reached, kind in row
            ]
            exhausted = n_hits < min(width, self.index.meta.count) or width >= MAX_INTENTIONS
            if len(out[q]) < k and not exhausted:
                still.append(q)
        return still

    def _texts(self, found: list[list[ProductHit]]) -> None:
        """Titles and intention texts of the hits kept, read once for all of them."""
        hits = [h for hs in found for h in hs]
        if not hits:
            return
        titles = {r["id"]: r["title"] for r in self.store.run("product_titles", {"ids": sorted({h.product for h in hits})})}
        texts = {r["id"]: r["text"] for r in self.store.run("intention_texts", {"ids": sorted({h.intention for h in hits})})}
        for h in hits:
            h.title, h.intention_text = titles.get(h.product), texts.get(h.intention) or ""

    def _fused(self, vector: Any, by_intention: list[ProductHit], k: int) -> list[ProductHit]:
        return self._fused_many(np.asarray(vector)[None, :], [by_intention], k)[0]

    def _fused_many(self, vectors: np.ndarray, by_intention: list[list[ProductHit]], k: int) -> list[list[ProductHit]]:
        """Both paths fused (module `fusion`); the intention path alone when there is no product index."""
        if self.products is None:
            return [hits[:k] for hits in by_intention]
        direct = self.products.search(vectors, max(2 * k, 20), model=self.embedder.key)
        missing = sorted({p for hits, d in zip(by_intention, direct) for p in {p for p, _ in d} - {h.product for h in hits}})
        titles = {r["id"]: r["title"] for r in self.store.run("product_titles", {"ids": missing})} if missing else {}
        # a product the index still has but the graph no longer does is not an answer
        known = [titles.keys() | {h.product for h in hits} for hits in by_intention]
        direct = [[(p, s) for p, s in d if p in ok] for ok, d in zip(known, direct)]
        return [fuse(hits, d, titles, k, weak_product=self.products.meta.weak_below) for hits, d in zip(by_intention, direct)]

    def retrieve(self, text: str, k: int = 10, *, threshold: float | None = None, rerank: bool = True) -> list[ProductHit]:
        """The `k` products that serve `text`: through intentions and through their own texts, fused."""
        return self.retrieve_many([text], k, threshold=threshold, rerank=rerank)[0]

    def retrieve_many(self, texts: Sequence[str], k: int = 10, *, threshold: float | None = None, rerank: bool = True) -> list[list[ProductHit]]:
        """`retrieve` for several texts at once: one encode, and FAISS and the graph asked for all of
        them together (what `intentkb serve` does with the requests waiting at one moment). With a
        reranker (and `rerank`), the first `RERANK_DEPTH` candidates are re-ordered by it."""
        texts = [need_text(t) for t in texts]
        reranker = self.reranker if rerank else None
        width = max(k, RERANK_DEPTH) if reranker else k
        vectors = np.asarray(self.embedder.encode([embedding_text(t) for t in texts]))
        if self.products is None:
            found = self._products_many(vectors, width, threshold)
        else:
            found = self._fused_many(vectors, self._products_many(vectors, max(2 * width, 20), threshold), width)
        return reranker.rerank_many(texts, found, k) if reranker else found

    def retrieve_script(self, script: str, k: int = 10, *, threshold: float = DEFAULT_THRESHOLD, rerank: bool = True) -> list[StepProducts]:
        """Products for every step of `script`, in step order (re-ordered by the reranker, when there is one and `rerank`)."""
        out = self.retrieve_scripts([script], k, threshold=threshold, rerank=rerank)[0]
        if isinstance(out, IntentKBError):
            raise out
        return out

    def retrieve_scripts(
        self, scripts: Sequence[str], k: int = 10, *, threshold: float = DEFAULT_THRESHOLD, rerank: bool = True
    ) -> list[list[StepProducts] | IntentKBError]:
        """`retrieve_script` for several scripts at once (what `intentkb serve` does with the script
        requests waiting at one moment): two graph queries, one encode, one search per index for
        all their steps. A script with no steps gets its error in its place; the others are answered."""
        reranker = self.reranker if rerank else None
        wanted = list(dict.fromkeys(scripts))
        steps_of: dict[str, list[Row]] = {}
        for r in self.store.run("scripts_steps", {"scripts": wanted}):
            steps_of.setdefault(r["script"], []).append(r)
        by_step: dict[str, list[Row]] = {}
        for r in self.store.run("scripts_aligned_products", {"scripts": [s for s in wanted if s in steps_of]}) if steps_of else []:
            by_step.setdefault(r["step"], []).append(r)
        width = max(2 * k, 20) if self.products is not None else k
        width = max(width, RERANK_DEPTH) if reranker else width
        steps = [s for sid in wanted for s in steps_of.get(sid, [])]
        # steps are embedded only when something searches with them: a step without an aligned
        # path, or the direct path (an aligned script without a product index needs no model)
        need = [s for s in steps if self.products is not None or not by_step.get(s["id"])]
        vectors = dict(zip((s["id"] for s in need), self.embedder.encode([embedding_text(s["text"]) for s in need]))) if need else {}
        # the graph's own path when the step has one; else searched now, with the threshold
        unaligned = [s["id"] for s in steps if not by_step.get(s["id"])]
        searched = dict(zip(unaligned, self._products_many(np.stack([vectors[i] for i in unaligned]), width, threshold))) if unaligned else {}
        paths = {s["id"]: merge_products(by_step[s["id"]], width) if by_step.get(s["id"]) else searched[s["id"]] for s in steps}
        if self.products is not None and steps:
            paths = dict(zip(paths, self._fused_many(np.stack([vectors[i] for i in paths]), list(paths.values()), width)))
        if reranker and steps:
            paths = dict(zip(paths, reranker.rerank_many([s["text"] for s in steps], [paths[s["id"]] for s in steps], k)))
        answers: dict[str, list[StepProducts] | IntentKBError] = {
            sid: [
                StepProducts(step=s["id"], idx=s["idx"], text=s["text"], source="aligned" if by_step.get(s["id"]) else "search", products=paths[s["id"]][:k])
                for s in steps_of[sid]
            ]
            if sid in steps_of
            else IntentKBError(f"no script {sid!r} with steps in the graph")
            for sid in wanted
        }
        return [answers[s] for s in scripts]
