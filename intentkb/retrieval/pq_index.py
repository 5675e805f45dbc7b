"""IVF-PQ indexes for corpora whose float vectors no longer fit one machine's RAM, built in one pass.

At 10M intentions of 256 dimensions the float16 IVF lists of `index.VectorIndex` would hold 5 GB in
memory. Product quantisation stores a vector in dim/4 bytes (640 MB at 10M), and the ranking that
coarse codes lose is restored by scoring the best `refine × k` candidates exactly against float16
copies of the vectors, memory-mapped from disk: a query reads only its candidates' pages.

The vectors arrive in chunks and are never all in memory. The first chunks train the quantisers
(the graph hands texts over in id order, and ids are content hashes, so the first vectors are a
random sample); every chunk is then coded, its float16 copy written, and the exact top k of the
tuning queries carried along, so nprobe is tuned against exact search without a second pass.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

from ..errors import IntentKBError
from ..private import private_open, private_write_text
from .index import IndexMeta, VectorIndex, staging_dir, swap_in
from .index_files import ids_digest

PQ_THRESHOLD = 4_000_000  # from here on an index is IVF-PQ (float16 lists of 384 dims would need 3 GB)
REFINE = 10  # candidates scored exactly per result wanted
# The codes cap recall below the flat and IVF indexes' 0.95: at 200k intentions and 256 dimensions,
# 64-byte codes reached 0.952 at nprobe 256 and 0.9555 even re-ranking 100 × k, so aiming at 0.95
# drives nprobe towards every list. 0.92 leaves the search a margin above the 0.90 it promises.
PQ_RECALL_TARGET = 0.92
TRAIN_PER_LIST = 39  # FAISS's minimum training points per centroid
MAX_TRAIN = 500_000

Chunk = tuple[Sequence[str], np.ndarray, Sequence[str | None]]  # ids, vectors, text hashes


def pq_shape(dim: int, n: int) -> tuple[int, int, int]:
    """(nlist, sub-quantisers, bits per code): 4√n lists as for IVF (never under 39 vectors a list),
    one byte per 4 dimensions
    (one per 8 lost 8 points of recall@10 at the same nprobe and re-rank depth, 200k intentions);
    fewer bits when there are too few vectors to train 256 centroids per sub-space."""
    nlist = max(1, min(int(4 * math.sqrt(n)), n // TRAIN_PER_LIST))
    m = next(d for d in (dim // 4, dim // 2, dim) if d >= 1 and dim % d == 0)
    nbits = 8 if min(n, MAX_TRAIN) >= 256 * TRAIN_PER_LIST else max(1, min(8, int(math.log2(max(2, n // TRAIN_PER_LIST)))))
    return nlist, m, nbits


class ExactTopK:
    """The exact top k+1 positions of fixed queries over the vectors seen so far, chunk by chunk."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.q, self.k = queries, k
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.found = np.zeros((len(queries), 0), dtype=np.int64)

    def see(self, vectors: np.ndarray, start: int) -> None:
        sims = self.q @ vectors.T
        take = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        scores = np.concatenate([self.scores, np.take_along_axis(sims, top, axis=1)], axis=1)
        found = np.concatenate([self.found, top + start], axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        self.scores, self.found = np.take_along_axis(scores, order, axis=1), np.take_along_axis(found, order, axis=1)


def build_ivfpq(
    name: str,
    model: str,
    chunks: Iterable[Chunk],
    total: int,
    directory: Path,
    *,
    tune_queries: np.ndarray | None = None,
    recall_target: float = PQ_RECALL_TARGET,
    refine: int = REFINE,
    seed: int = 0,
    echo: Callable[[str], None] | None = None,
) -> VectorIndex:
    """Build the IVF-PQ index of `total` vectors given in chunks into `directory` (swapped in whole
    at the end, as `VectorIndex.save` does) and return it, loaded with its lists mapped.
    `tune_queries`: vectors like the searches to come; without them, held-out indexed vectors."""
    say = echo or (lambda _m: None)
    new = staging_dir(directory)
    it = iter(chunks)
    buffered: list[Chunk] = []
    while sum(len(c[0]) for c in buffered) < min(total, MAX_TRAIN):
        part = next(it, None)
        if part is None:
            break
        buffered.append((part[0], _matrix(part[1], buffered[0][1].shape[1] if buffered else None, name), part[2]))
    if not buffered:
        raise IntentKBError(f"index {name!r}: no vectors to build an IVF-PQ index from")
    dim = buffered[0][1].shape[1]
    nlist, m, nbits = pq_shape(dim, total)
    rng = np.random.default_rng(seed)
    sample = np.concatenate([c[1] for c in buffered])
    train_n = min(len(sample), max(nlist * TRAIN_PER_LIST, 256 * TRAIN_PER_LIST), MAX_TRAIN)
    if tune_queries is None or not len(tune_queries):  # held out: tuning skips each one's own entry
        own = rng.choice(len(sample), size=min(500, len(sample)), replace=False)
        queries, tuned_on = sample[own], "held-out"
    else:
        q = np.ascontiguousarray(tune_queries, dtype=np.float32)
        queries, own, tuned_on = q[rng.choice(len(q), size=min(500, len(q)), replace=False)], np.full(min(500, len(q)), -1), "queries"

    t = time.monotonic()
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10  # coarse k-means: 10 rounds instead of 25 (recall is tuned afterwards anyway)
    index.train(sample[rng.choice(len(sample), size=train_n, replace=False)])
    del sample
    say(f"{name}: IVF-PQ trained on {train_n:,} vectors ({nlist:,} lists, {m}×{nbits}-bit codes) in {time.monotonic() - t:.0f}s")

    exact = np.lib.format.open_memmap(new / "vectors.npy", mode="w+", dtype=np.float16, shape=(total, dim))
    truth = ExactTopK(queries, 11)
    ids: list[str | None] = []
    seen: set[str] = set()
    with private_open(new / "ids.jsonl", "w", encoding="utf-8") as fh:
        for part_ids, vectors, hashes in itertools.chain(buffered, it):
            vectors = _matrix(vectors, dim, name)
            start = len(ids)
            if start + len(part_ids) > total or len(vectors) != len(part_ids) or len(hashes) != len(part_ids):
                raise IntentKBError(f"index {name!r}: chunks do not add up to {total:,} vectors of {dim} dimensions, one id and hash each")
            seen.update(part_ids)
            ids.extend(part_ids)
            if len(seen) != len(ids):
                raise IntentKBError(f"index {name!r}: ids must be unique")
            index.add_with_ids(vectors, np.arange(start, start + len(part_ids), dtype=np.int64))
            exact[start : start + len(part_ids)] = vectors
            truth.see(vectors, start)
            fh.writelines(json.dumps([g, h]) + "\n" for g, h in zip(part_ids, hashes))
    if len(ids) != total:
        raise IntentKBError(f"index {name!r}: {len(ids):,} vectors arrived, {total:,} announced")
    exact.flush()
    del exact, seen
    faiss.write_index(index, str(new / "index.faiss"))
    meta = IndexMeta(
        name=name,
        model=model,
        dim=dim,
        kind="ivfpq",
        nlist=nlist,
        trained_on=total,
        tuned_on=tuned_on,
        codec=f"pq{m}x{nbits}",
        refine=refine,
        count=total,
        ids_digest=ids_digest(new),
    )
    private_write_text(new / "meta.json", meta.model_dump_json(indent=2))
    built = VectorIndex.load(new, model=model, mmap=True)
    built.sweep_nprobe(queries, truth.found, own, recall_target)
    private_write_text(new / "meta.json", built.meta.model_dump_json(indent=2))
    del built, index
    swap_in(new, directory)
    return VectorIndex.load(directory, model=model, mmap=True)


def _matrix(vectors: np.ndarray, dim: int | None, name: str) -> np.ndarray:
    v = np.ascontiguousarray(vectors, dtype=np.float32)  # as index._as_matrix, with the index's name and dimension in the error
    if v.ndim != 2 or (dim is not None and v.shape[1] != dim):
        raise IntentKBError(f"index {name!r}: a chunk of vectors of shape {v.shape}, not (n, {dim or 'dimensions'})")
    return v
