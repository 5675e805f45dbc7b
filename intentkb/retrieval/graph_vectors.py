"""Retrieval on the graph engine's own vector index (`INTENTKB_VECTOR_BACKEND=graph`, Neo4j 5).

Past one machine the graph lives in a Neo4j cluster or Aura, and retrieval can live there too: the
embeddings are written onto the Intention and Product nodes (`db.create.setNodeVectorProperty`,
float32), a cosine vector index per label is kept by Neo4j, and a search is one
`db.index.vector.queryNodes` call per query, batched in one round trip. The answers have the FAISS
path's shape (`VectorIndex.search`); the products an intention leads to are then read from the graph
(there is no link table to hold: the graph is next to the index).

The index's model and dimensions are kept in `meta.json` beside the data (`index/GRAPH/NAME@graph/`),
as FAISS's are; a build re-embeds only texts whose hash changed (`embedding_hash` on the node), and a
build with another model drops the index and the old vectors first. Script steps stay on FAISS
(alignment reads them in bulk).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import IntentKBError
from ..kb.queries import keyset_pages
from ..kb.store import GraphStore
from ..private import private_dir, private_write_text
from .index import IndexMeta, ModelMismatch, index_dir

NAMES = ("intentions", "products")  # what the graph indexes; steps stay on FAISS
WRITE_BATCH = 500
AWAIT_SECONDS = 600
OVERSAMPLE = 100  # extra candidates asked of the HNSW index beyond k: recall@10 0.98 (k + 20: 0.85) on step queries, 3 ms


def graph_index_name(name: str) -> str:
    return f"intentkb_{name}"


def graph_meta_dir(settings: Settings, name: str) -> Path:
    return index_dir(settings, f"{name}@graph")


def check_engine(store: GraphStore) -> None:
    if store.kind != "neo4j":
        raise IntentKBError(
            f"INTENTKB_VECTOR_BACKEND=graph needs a Neo4j store (the vector index of Neo4j 5); this knowledge base is on the {store.kind} store: use faiss"
        )


class GraphVectorIndex:
    """`VectorIndex.search` answered by the graph's vector index."""

    def __init__(self, store: GraphStore, meta: IndexMeta) -> None:
        self.store = store
        self.meta = meta
        self.ids = None  # no FAISS positions: retrieval reads the links from the graph

    @classmethod
    def load(cls, store: GraphStore, settings: Settings, name: str, model: str | None = None) -> GraphVectorIndex:
        check_engine(store)
        try:
            meta = IndexMeta.model_validate_json((graph_meta_dir(settings, name) / "meta.json").read_text())
        except FileNotFoundError:
            raise IntentKBError(f"no {name} vector index in the graph; run `intentkb index build` (INTENTKB_VECTOR_BACKEND=graph)") from None
        if model is not None and model != meta.model:
            raise ModelMismatch(f"index {name!r} was built with {meta.model}, not {model}; rebuild it with --rebuild")
        return cls(store, meta)

    def search(self, vectors: np.ndarray, k: int, *, model: str | None = None) -> list[list[tuple[str, float]]]:
        if model is not None and model != self.meta.model:
            raise ModelMismatch(f"index {self.meta.name!r} was built with {self.meta.model}, not {model}; rebuild it with --rebuild")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.meta.dim:
            raise IntentKBError(f"query vectors of shape {vectors.shape} for a vector index of dimension {self.meta.dim}")
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(vectors))]
        k = min(k, self.meta.count)
        if k <= 0 or not len(vectors):
            return out
        queries = [{"q": i, "vec": v.tolist()} for i, v in enumerate(vectors)]
        # HNSW explores about as many candidates as it is asked for: asking for more than k and
        # keeping the best k brings its answers closer to exact search
        wide = min(self.meta.count, k + OVERSAMPLE)
        for r in self.store.run("vector_search", {"index": graph_index_name(self.meta.name), "k": wide, "queries": queries}):
            out[r["q"]].append((r["id"], float(r["score"])))
        for i, hits in enumerate(out):
            hits.sort(key=lambda h: (-h[1], h[0]))
            out[i] = hits[:k]
        return out


def build_graph_index(
    store: GraphStore,
    settings: Settings,
    name: str,
    model: str,
    texts: dict[str, str],
    hashes: dict[str, str],
    embed: Callable[[list[str]], np.ndarray],
    *,
    rebuild: bool = False,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[IndexMeta, dict[str, int]]:
    """Bring the graph's vector index `name` in line with `texts`; (its meta, what changed)."""
    check_engine(store)
    if name not in NAMES:
        raise IntentKBError(f"the graph holds the intentions and products indexes, not {name!r}")
    directory = graph_meta_dir(settings, name)
    index = graph_index_name(name)
    old: IndexMeta | None = None
    if (directory / "meta.json").exists():
        old = IndexMeta.model_validate_json((directory / "meta.json").read_text())
    sample = embed([next(iter(texts.values()))]) if texts else None
    dim = int(sample.shape[1]) if sample is not None else (old.dim if old else 0)
    if rebuild or old is None or old.model != model or old.dim != dim:
        if old is not None or rebuild:
            say(f"{name}: dropping the graph's vector index and its vectors ({'asked' if rebuild else 'another model'})")
        store.run("vector_index_drop", {"index": index}, write=True)
        while store.run(f"vector_clear_{name}", {"ids": None, "limit": 20_000}, write=True)[0]["cleared"]:
            pass
    kept = {r["id"]: r["hash"] for rows in keyset_pages(store, f"vector_hashes_{name}_page", 20_000) for r in rows}
    todo = [g for g, h in hashes.items() if kept.get(g) != h]
    gone = [g for g in kept if g not in hashes]
    for i in range(0, len(gone), WRITE_BATCH):
        store.run(f"vector_clear_{name}", {"ids": gone[i : i + WRITE_BATCH], "limit": WRITE_BATCH}, write=True)
    for i in range(0, len(todo), WRITE_BATCH):
        part = todo[i : i + WRITE_BATCH]
        vecs = embed([texts[g] for g in part])
        rows = [{"id": g, "vec": v.tolist(), "hash": hashes[g]} for g, v in zip(part, vecs)]
        store.run(f"vector_set_{name}", {"rows": rows}, write=True)
    if dim:
        store.run(f"vector_index_create_{name}", {"index": index, "dimensions": dim}, write=True)
        store.run("vector_index_await", {"index": index, "seconds": AWAIT_SECONDS})
    meta = IndexMeta(name=name, model=model, dim=dim, kind="graph", count=len(hashes))
    private_dir(directory)
    private_write_text(directory / "meta.json", meta.model_dump_json(indent=2))
    return meta, {"added": sum(1 for g in todo if g not in kept), "updated": sum(1 for g in todo if g in kept), "removed": len(gone)}
