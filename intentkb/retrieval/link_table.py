"""The intention → product links of the indexed intentions, held as arrays beside the FAISS index.

Retrieval's intention path turns each intention hit into the products it explains (co-buy,
purchase) or was formed at (session trees). Asking the graph for them cost a round trip returning
~200 rows a query, and parsing them was most of a served retrieval (6.3 ms a query). The table
answers the same from memory: per FAISS position, a slice of product codes and edge types (CSR
arrays, memory-mapped, so `serve --workers N` shares one copy).

The graph stays the source of truth. `index build` writes the table with the index, and records
the graph's counts (intentions, EXPLAINS and AT edges) it was read at; a reader compares them with
the graph's counts now (count-store look-ups on both engines), and a table that disagrees — or
belongs to another build of the index — is rebuilt from the graph before it answers, never served
silently. Counts cannot see an edge moved from one product to another; `index build` rewrites the
table whatever the counts say.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..kb.queries import keyset_pages
from ..kb.store import GraphStore
from ..private import private_dir, private_file, private_write_text
from .index_files import file_digest, ids_digest

VIAS = ("EXPLAINS", "AT")
PAGE = 100_000  # as the index's own text pages: each page query scans what remains
FILES = ("offsets", "targets", "via", "kind", "id_rank", "products")


class TableMeta(BaseModel):
    ids_digest: str  # the index build the positions belong to (digest of its ids.jsonl)
    counts: dict[str, int]  # the graph's counts when the table was read
    positions: int
    links: int
    kinds: list[str]
    seconds: float
    files: dict[str, str] = {}  # digest of each array's file: a damaged or reordered one is read again from the graph, never served


def graph_counts(store: GraphStore) -> dict[str, int]:
    """Intentions and EXPLAINS / AT edges: what a change to the links changes (three count-store
    look-ups, ~4 ms each at 1M intentions; one query joining them scanned, 1.3 s)."""
    return {k: int(store.run(f"link_count_{k}", {})[0]["n"] or 0) for k in ("intentions", "explains", "at")}


class LinkTable:
    """CSR arrays over FAISS positions: `offsets[p]:offsets[p+1]` are position p's links, each a
    product code (`targets`, codes in product-id order) and an edge type (`via`)."""

    def __init__(self, meta: TableMeta, arrays: dict[str, np.ndarray]) -> None:
        self.meta = meta
        self.offsets, self.targets, self.via = arrays["offsets"], arrays["targets"], arrays["via"]
        self.kind, self.id_rank, self.products = arrays["kind"], arrays["id_rank"], arrays["products"]

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def read(cls, store: GraphStore, ids: Sequence[str | None], digest: str) -> LinkTable:
        """The links of the indexed intention ids (`ids[p]`: the id at FAISS position p), from the graph."""
        counts = graph_counts(store)  # before the pages: a change while they are read makes the table stale
        links = {r["id"]: (r["kind"], r["products"], r["vias"]) for rows in keyset_pages(store, "index_intentions_page", PAGE) for r in rows}
        return cls.build(links, ids, digest, counts)

    @classmethod
    def build(cls, links: dict[str, tuple[str | None, list[str], list[str]]], ids: Sequence[str | None], digest: str, counts: dict[str, int]) -> LinkTable:
        """The table of `links` (intention id → kind, product ids, edge types) over FAISS positions;
        `counts`: the graph's, taken before the links were read."""
        started = time.monotonic()
        kinds: dict[str, int] = {}
        per: dict[int, tuple[int, list[str], list[str]]] = {}
        for p, g in enumerate(ids):
            if g is not None and g in links:
                kind_of, products_of, vias_of = links[g]
                per[p] = (kinds.setdefault(kind_of or "", len(kinds)), products_of, vias_of)
        products = np.array(sorted({x for _, ps, _ in per.values() for x in ps}), dtype=str)
        code = {x: i for i, x in enumerate(products.tolist())}
        lengths = np.zeros(len(ids), dtype=np.int64)
        kind = np.zeros(len(ids), dtype=np.uint8)
        for p, (k, ps, _) in per.items():
            lengths[p], kind[p] = len(ps), k
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        targets = np.empty(int(offsets[-1]), dtype=np.int32)
        via = np.empty(int(offsets[-1]), dtype=np.uint8)
        for p, (_, ps, vs) in per.items():
            a = offsets[p]
            targets[a : a + len(ps)] = [code[x] for x in ps]
            via[a : a + len(vs)] = [VIAS.index(v) for v in vs]
        order = sorted((g, p) for p, g in enumerate(ids) if g is not None)
        id_rank = np.zeros(len(ids), dtype=np.int64)
        id_rank[[p for _, p in order]] = np.arange(len(order))
        meta = TableMeta(
            ids_digest=digest, counts=counts, positions=len(ids), links=int(offsets[-1]), kinds=list(kinds), seconds=round(time.monotonic() - started, 2)
        )
        return cls(meta, {"offsets": offsets, "targets": targets, "via": via, "kind": kind, "id_rank": id_rank, "products": products})

    def save(self, directory: Path) -> None:
        """Written whole into a sibling directory, then swapped in (a reader sees old, new or none;
        of two processes saving at once — two server workers that found it stale — one wins whole)."""
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        new, old = directory.with_name(f"{directory.name}.new-{tag}"), directory.with_name(f"{directory.name}.old-{tag}")
        private_dir(new)
        arrays = {"offsets": self.offsets, "targets": self.targets, "via": self.via, "kind": self.kind, "id_rank": self.id_rank, "products": self.products}
        for name in FILES:
            with open(private_file(new / f"{name}.npy"), "wb") as fh:
                np.save(fh, np.asarray(arrays[name]), allow_pickle=False)
        self.meta.files = {name: file_digest(new / f"{name}.npy") for name in FILES}
        private_write_text(new / "meta.json", self.meta.model_dump_json(indent=2))
        try:
            os.replace(directory, old)
        except FileNotFoundError:
            pass
        try:
            os.replace(new, directory)
        except OSError:  # another process put its table there in the meantime: the same links
            shutil.rmtree(new, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LinkTable | None:
        """The saved table, or None when it is missing or damaged (it is then read again from the graph)."""
        try:
            meta = TableMeta.model_validate_json((directory / "meta.json").read_bytes())
            if any(meta.files.get(name) != file_digest(directory / f"{name}.npy") for name in FILES):
                return None  # damaged, reordered, or saved before tables had digests
            arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in FILES}
        except (OSError, ValueError, EOFError):
            return None
        return cls(meta, arrays)

    # -- answering --------------------------------------------------------------------------
    def products_for(self, positions: np.ndarray, scores: np.ndarray, k: int) -> list[list[tuple[str, float, int, int, int, int]]]:
        """Per query row: its best `k` products as (product id, score, intention position, edge
        type code, intentions reaching it, kind code) — one per product, its best-scoring intention
        (ties: the smaller intention id), ordered by score then product id: `merge_products` on arrays."""
        q_of = np.repeat(np.arange(len(positions)), positions.shape[1])
        pos, sc = positions.ravel(), scores.ravel()
        keep = pos >= 0
        q_of, pos, sc = q_of[keep], pos[keep], sc[keep]
        starts, ends = self.offsets[pos], self.offsets[pos + 1]
        counts = ends - starts
        total = int(counts.sum())
        out: list[list[tuple[str, float, int, int, int, int]]] = [[] for _ in range(len(positions))]
        if total == 0:
            return out
        first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        edge = first + np.arange(total)
        e_q, e_pos, e_sc = np.repeat(q_of, counts), np.repeat(pos, counts), np.repeat(sc, counts)
        e_prod = np.asarray(self.targets[edge], dtype=np.int64)
        key = e_q * len(self.products) + e_prod  # one group per (query, product)
        order = np.lexsort((np.asarray(self.id_rank)[e_pos], -e_sc, key))
        key_sorted = key[order]
        head = np.flatnonzero(np.concatenate([[True], key_sorted[1:] != key_sorted[:-1]]))
        best = order[head]
        # distinct intentions per (query, product): equal sort keys put one intention's edges to one
        # product (co-buy roles a and b of a pair of one product) side by side
        pos_sorted = e_pos[order]
        new_pair = np.concatenate([[True], (key_sorted[1:] != key_sorted[:-1]) | (pos_sorted[1:] != pos_sorted[:-1])])
        reached = np.add.reduceat(new_pair.astype(np.int64), head)
        b_q, b_prod, b_sc = e_q[best], e_prod[best], np.round(e_sc[best].astype(np.float64), 4)
        rank = np.lexsort((b_prod, -b_sc, b_q))
        via, kind = np.asarray(self.via), np.asarray(self.kind)
        taken = np.zeros(len(positions), dtype=np.int64)
        for i in rank:
            q = int(b_q[i])
            if taken[q] >= k:
                continue
            taken[q] += 1
            b = best[i]
            out[q].append((str(self.products[b_prod[i]]), float(b_sc[i]), int(e_pos[b]), int(via[edge[b]]), int(reached[i]), int(kind[e_pos[b]])))
        return out


def table_dir(index_directory: Path) -> Path:
    return index_directory / "links"


def ensure_table(
    store: GraphStore,
    index_directory: Path,
    ids: Sequence[str | None],
    *,
    digest: str | None = None,
    rebuild: bool = False,
    echo: Callable[[str], None] | None = None,
    read: tuple[dict[str, tuple[str | None, list[str], list[str]]], dict[str, int]] | None = None,
) -> LinkTable:
    """The table of this index build, checked against the graph's counts; read again from the
    graph when missing, of another build, or stale (and saved for the next reader). `read`: the
    links and counts `index build` took in its own pass over the intentions (no second read).
    `digest`: of the index's ids.jsonl, as its meta.json records it and its load checked (the file
    is not read again); computed here for an index saved before digests."""
    digest = digest or ids_digest(index_directory)
    where = table_dir(index_directory)
    if read is not None:
        built = LinkTable.build(read[0], ids, digest, read[1])
        built.save(where)
        return built
    table = None if rebuild else LinkTable.load(where)
    if table is not None and table.meta.ids_digest == digest and table.meta.counts == graph_counts(store):
        return table
    if table is not None and echo:
        echo("the intention → product links changed in the graph since they were read: reading them again")
    table = LinkTable.read(store, ids, digest)
    table.save(where)
    return table
