"""`intentkb index build`: FAISS indexes over the graph's intentions and script steps.

An index lives in `DATA_DIR/index/GRAPH/NAME/` beside the graph. A build reads every text from the graph,
hashes what would be embedded, and brings the saved index up to date: new and changed texts are
embedded (the embedding cache makes unchanged ones free) and added, ids gone from the graph are
removed. The index is rebuilt from scratch when asked, when none exists, when its size class changed
(flat ↔ IVF ↔ IVF-PQ) or when an IVF index has grown past twice the size it was trained on. An IVF-PQ
index (from `PQ_THRESHOLD` texts: module `pq_index`) is rebuilt whole whenever a text changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..config import Settings
from ..errors import IntentKBError
from ..kb.queries import keyset_pages
from ..kb.store import GraphStore
from ..private import private_write_text
from .embeddings import Embedder, embedding_text, open_embedder, settings_key, text_hash
from .graph_vectors import NAMES as GRAPH_NAMES
from .graph_vectors import build_graph_index, graph_meta_dir
from .index import IVF_THRESHOLD, VectorIndex, index_dir
from .link_table import ensure_table, graph_counts
from .pq_index import PQ_THRESHOLD, build_ivfpq

# index name → the named query that pages through its texts
SOURCES: dict[str, str] = {"intentions": "index_intentions_page", "steps": "index_steps_page", "products": "index_products_page"}
PAGE = 100_000  # rows per keyset page: each page query scans and sorts what remains, so fewer pages read faster
ENCODE_CHUNK = 50_000  # texts embedded and added per round, so memory stays bounded during updates


class IndexReport(BaseModel):
    """What a build did to one index; `encoded` counts model calls, the rest came from the cache."""

    name: str
    path: str
    model: str
    kind: str
    count: int
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    encoded: int = 0
    rebuilt: bool = False
    nlist: int | None = None
    nprobe: int | None = None
    recall_at_10: float | None = None
    target_met: bool | None = None
    read_seconds: float = 0.0
    embed_seconds: float = 0.0
    index_seconds: float = 0.0

    def line(self) -> str:
        how = "rebuilt" if self.rebuilt else "updated"
        missed = " (below its target even searching every list)" if self.target_met is False else ""
        ivf = f", nlist {self.nlist}, nprobe {self.nprobe}, recall@10 {self.recall_at_10}{missed}" if self.kind in ("ivf", "ivfpq") else ""
        return (
            f"{self.name}: {how} {self.kind} index of {self.count:,} vectors (+{self.added:,} new, {self.updated:,} changed, "
            f"-{self.removed:,} gone, {self.unchanged:,} unchanged; {self.encoded:,} embedded){ivf} "
            f"in {self.read_seconds + self.embed_seconds + self.index_seconds:.1f}s"
        )


def iter_texts(store: GraphStore, name: str, page: int = PAGE) -> Iterator[tuple[str, str]]:
    """(id, text to embed) of every node of an index's source, in id order, a page at a time."""
    return page_texts(store, SOURCES[name], {}, page, text_of=product_text if name == "products" else _text)


def _text(row: dict[str, Any]) -> str:
    return row["text"] or ""


def page_texts(
    store: GraphStore, query: str, params: dict[str, Any], page: int = PAGE, text_of: Callable[[dict[str, Any]], str] = _text
) -> Iterator[tuple[str, str]]:
    """(id, text to embed) rows of a named query paged by `$after` (keyset) and `$limit`;
    `text_of` makes a row's text (its `text` column by default)."""
    for rows in keyset_pages(store, query, page, params):
        for r in rows:
            text = text_of(r)
            if text:
                yield r["id"], embedding_text(text)


def product_text(row: dict[str, Any]) -> str:
    """What the product index embeds: title, category, brand, then the attributes (sorted, so the
    text, hence its hash, is the same on every build)."""
    parts = [row.get("title") or ""]
    for key in ("category", "brand"):
        if row.get(key) and str(row[key]).casefold() not in parts[0].casefold():
            parts.append(str(row[key]))
    attrs = sorted(a for a in (row.get("attrs") or []) if a)
    return ". ".join(p for p in parts if p) + ("; " + "; ".join(attrs) if attrs else "")


def build_index(
    store: GraphStore,
    settings: Settings,
    name: str,
    *,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    ivf_threshold: int = IVF_THRESHOLD,
    pq_threshold: int = PQ_THRESHOLD,
    echo: Callable[[str], None] | None = None,
    progress: bool = False,
) -> IndexReport:
    """Bring index `name` in line with the graph (see the module docstring for when it rebuilds)."""
    if name not in SOURCES:
        raise IntentKBError(f"unknown index {name!r}; one of {', '.join(SOURCES)}")
    embedder = embedder or open_embedder(settings, progress=progress, echo=echo)
    model = settings_key(settings)
    if embedder.key != model:
        raise IntentKBError(f"embedder model {embedder.key} differs from the setting {model}")
    directory = index_dir(settings, name)
    say = echo or (lambda _m: None)

    t = time.monotonic()
    links: dict[str, tuple[str | None, list[str], list[str]]] = {}
    if name == "intentions":  # the texts and, in the same pass, the links for the table beside the index
        counts = graph_counts(store)
        texts: dict[str, str] = {}
        for rows in keyset_pages(store, SOURCES[name], PAGE):
            for r in rows:
                links[r["id"]] = (r["kind"], r["products"], r["vias"])
                if r["text"]:
                    texts[r["id"]] = embedding_text(r["text"])
    else:
        texts = dict(iter_texts(store, name))
    hashes = {g: text_hash(x).hex() for g, x in texts.items()}
    read_s = time.monotonic() - t
    encoded_before = embedder.encoded

    if settings.vector_backend == "graph" and name in GRAPH_NAMES:
        return _build_in_graph(store, settings, name, embedder, texts, hashes, rebuild, say, read_s, encoded_before)

    existing: VectorIndex | None = None
    if not rebuild and (directory / "meta.json").exists():
        existing = VectorIndex.load(directory, model=model)  # ModelMismatch: the user must ask for --rebuild
        wanted = "ivfpq" if len(texts) >= pq_threshold else "ivf" if len(texts) >= ivf_threshold else "flat"
        trained = existing.meta.trained_on or existing.meta.count
        if existing.meta.kind != wanted or (wanted == "ivf" and len(texts) > 2 * trained):
            say(f"{name}: {existing.meta.kind} index of {existing.meta.count:,} no longer fits {len(texts):,} texts; rebuilding")
            existing = None
        elif wanted == "ivfpq" and existing.stale(hashes) != ([], []):
            say(f"{name}: texts changed; an IVF-PQ index is rebuilt whole")
            existing = None
    report = IndexReport(name=name, path=str(directory), model=model, kind="flat", count=0, read_seconds=round(read_s, 2))

    if existing is None and len(texts) >= pq_threshold:
        ids = list(texts)  # in id order: ids are content hashes, so the first chunks are a random sample to train on
        t = time.monotonic()
        tune = _tuning_queries(store, embedder) if name == "intentions" else None
        chunks = (
            (ids[i : i + ENCODE_CHUNK], _embed(embedder, [texts[g] for g in ids[i : i + ENCODE_CHUNK]]), [hashes[g] for g in ids[i : i + ENCODE_CHUNK]])
            for i in range(0, len(ids), ENCODE_CHUNK)
        )
        index = build_ivfpq(name, model, chunks, len(ids), directory, tune_queries=tune, echo=say)  # written as it is built
        report.rebuilt, report.added = True, len(ids)
    elif existing is None:
        ids = list(texts)
        t = time.monotonic()
        vectors = _embed(embedder, [texts[g] for g in ids])
        report.embed_seconds = round(time.monotonic() - t, 2)
        t = time.monotonic()
        tune = _tuning_queries(store, embedder) if name == "intentions" and len(ids) >= ivf_threshold else None
        index = VectorIndex.build(name, model, ids, vectors, [hashes[g] for g in ids], ivf_threshold=ivf_threshold, tune_queries=tune)
        del vectors
        report.rebuilt, report.added = True, len(ids)
    else:
        index = existing
        todo, gone = index.stale(hashes)
        t = time.monotonic()
        report.removed = index.remove(gone)
        report.updated = sum(1 for g in todo if g in index.position)
        for i in range(0, len(todo), ENCODE_CHUNK):
            part = todo[i : i + ENCODE_CHUNK]
            te = time.monotonic()
            vectors = _embed(embedder, [texts[g] for g in part])
            report.embed_seconds += time.monotonic() - te
            index.add(part, vectors, [hashes[g] for g in part], model=model)
        report.embed_seconds = round(report.embed_seconds, 2)
        report.added = len(todo) - report.updated
        report.unchanged = len(texts) - len(todo)
    if name == "products":
        index.meta.weak_below, index.meta.calibrated_on = calibrate_weak(store, embedder, texts)
    if index.meta.kind == "ivfpq":
        private_write_text(directory / "meta.json", index.meta.model_dump_json(indent=2))  # the weak-match calibration
    else:
        index.save(directory)
    if name == "intentions":  # retrieval's links of these intentions, beside them (module `link_table`)
        ensure_table(store, directory, index.ids, digest=index.meta.ids_digest, read=(links, counts))
    report.index_seconds = round(time.monotonic() - t - (0 if report.rebuilt else report.embed_seconds), 2)
    report.encoded = embedder.encoded - encoded_before
    m = index.meta
    report.kind, report.count, report.nlist, report.nprobe, report.recall_at_10 = m.kind, m.count, m.nlist, m.nprobe, m.recall_at_10
    report.target_met = m.target_met
    return report


CALIBRATION_LINKS = 2000


def _build_in_graph(
    store: GraphStore,
    settings: Settings,
    name: str,
    embedder: Embedder,
    texts: dict[str, str],
    hashes: dict[str, str],
    rebuild: bool,
    say: Callable[[str], None],
    read_s: float,
    encoded_before: int,
) -> IndexReport:
    """`build_index` for the graph's own vector index (module `graph_vectors`)."""
    model = settings_key(settings)
    t = time.monotonic()
    meta, changed = build_graph_index(store, settings, name, model, texts, hashes, lambda xs: _embed(embedder, xs), rebuild=rebuild, say=say)
    if name == "products":
        meta.weak_below, meta.calibrated_on = calibrate_weak(store, embedder, texts)
        private_write_text(graph_meta_dir(settings, name) / "meta.json", meta.model_dump_json(indent=2))
    return IndexReport(
        name=name,
        path=str(graph_meta_dir(settings, name)),
        model=model,
        kind="graph",
        count=meta.count,
        added=changed["added"],
        updated=changed["updated"],
        removed=changed["removed"],
        unchanged=len(texts) - changed["added"] - changed["updated"],
        encoded=embedder.encoded - encoded_before,
        rebuilt=rebuild,
        read_seconds=round(read_s, 2),
        index_seconds=round(time.monotonic() - t, 2),
    )


def calibrate_weak(store: GraphStore, embedder: Embedder, texts: dict[str, str]) -> tuple[float | None, str | None]:
    """The product-text similarity below which a direct match is weak: the cut that best separates
    the graph's own intention → product links from the same intentions paired with other products
    (Youden's J over the observed scores). None when the graph has too few links to say."""
    links = [r for r in store.run("index_calibration_links", {"limit": CALIBRATION_LINKS}) if r["product"] in texts]
    if len(links) < 20:
        return None, None
    ids = [r["product"] for r in links]
    queries = embedder.encode([embedding_text(r["text"]) for r in links])
    products = embedder.encode([texts[p] for p in ids])
    perm = np.random.default_rng(0).permutation(len(products))
    true = np.einsum("ij,ij->i", queries, products)
    false = np.einsum("ij,ij->i", queries, products[perm])
    same = np.array(ids) == np.array(ids)[perm]  # a shuffle that kept the product is not a negative
    false = false[~same] if (~same).any() else false
    cuts = np.unique(np.concatenate([true, false]))
    tpr = (true[None, :] >= cuts[:, None]).mean(axis=1)
    fpr = (false[None, :] >= cuts[:, None]).mean(axis=1)
    best = float(cuts[int(np.argmax(tpr - fpr))])
    return round(best, 4), f"{len(true)} intention-product links against {len(false)} mismatched pairs (Youden's J)"


def _tuning_queries(store: GraphStore, embedder: Embedder, n: int = 500) -> np.ndarray | None:
    """Script steps are what the intention index is searched with (alignment), and they lie further
    from intentions than intentions lie from each other: nprobe is tuned on a sample of them."""
    steps = [text for _, text in iter_texts(store, "steps")]
    if not steps:
        return None
    pick = np.random.default_rng(0).choice(len(steps), size=min(n, len(steps)), replace=False)
    return embedder.encode([steps[i] for i in sorted(pick)])


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embed in chunks into one preallocated matrix (a million vectors are 1.5 GB: no second copy)."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    out: np.ndarray | None = None
    for i in range(0, len(texts), ENCODE_CHUNK):
        part = embedder.encode(texts[i : i + ENCODE_CHUNK])
        if out is None:
            out = np.empty((len(texts), part.shape[1]), dtype=np.float32)
        out[i : i + len(part)] = part
    assert out is not None
    return out


def build_indexes(
    store: GraphStore,
    settings: Settings,
    names: list[str] | None = None,
    *,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    echo: Callable[[str], None] | None = None,
    progress: bool = False,
) -> list[IndexReport]:
    own = embedder is None
    embedder = embedder or open_embedder(settings, progress=progress, echo=echo)
    try:
        return [build_index(store, settings, n, embedder=embedder, rebuild=rebuild, echo=echo, progress=progress) for n in (names or list(SOURCES))]
    finally:
        if own and embedder.cache:
            embedder.cache.close()
