"""FAISS indexes over normalised vectors, with the graph-id mapping, persisted beside the graph.

Small sets use exact inner product (`IndexFlatIP`); above `IVF_THRESHOLD` vectors an IVF index is
trained and its `nprobe` raised until recall@10 against exact search reaches the target on a
sample of the queries to come (script steps), else of the indexed vectors. IVF lists hold the
vectors in float16: half the memory and, the scan being memory-bound, 1.6× faster at the same
recall (1M intentions, 2,000 step queries, nprobe 512: 5.65 → 3.56 ms a query, recall@10 0.962 both). Each index records the embedding model it was built with and refuses
vectors of another; it keeps each id's text hash, so a rebuild re-embeds only changed texts and
drops deleted ids.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
from pydantic import BaseModel

from ..config import Settings
from ..errors import IntentKBError
from ..private import private_dir, private_file, private_open, private_write_text
from .exact_rows import ExactRows, refined_search
from .index_files import aligned_vectors, file_digest, ids_digest, read_ids
from .keys import settings_key

IVF_THRESHOLD = 200_000
RECALL_TARGET = 0.95


class IndexMeta(BaseModel):
    name: str
    model: str
    dim: int
    kind: str  # "flat" | "ivf" | "ivfpq" (module `pq_index`)
    nlist: int | None = None
    nprobe: int | None = None
    recall_at_10: float | None = None  # IVF against exact search, measured at build
    recall_target: float | None = None  # IVF: what the tuning aimed at
    target_met: bool | None = None  # IVF: False when even nprobe = nlist fell short (the index says so, never pretends)
    trained_on: int | None = None  # IVF: vectors at training time; past twice that, a build retrains
    tuned_on: str | None = None  # IVF: the queries nprobe was tuned on ("queries" given, or "held-out" indexed vectors)
    codec: str | None = None  # IVF: how list entries are stored ("fp16", "pq32x8"; older indexes: None = float32)
    refine: int | None = None  # IVF-PQ: candidates per result scored exactly against the float16 copies
    count: int = 0
    weak_below: float | None = None  # products: a direct match scoring less is marked weak (calibrated at build)
    calibrated_on: str | None = None
    vectors_digest: str | None = None  # flat: of vectors.npy, which a mapped index searches instead of FAISS's own copy
    ids_digest: str | None = None  # of ids.jsonl: FAISS position p is its line p, so a file of another build answers other products (older indexes: None)


class ModelMismatch(IntentKBError):
    """Vectors of one model searched or added against an index built with another."""


class VectorIndex:
    def __init__(self, meta: IndexMeta, index: faiss.Index, ids: list[str | None], hashes: list[str | None]) -> None:
        self.meta = meta
        self.index = index
        self.ids = ids  # position = FAISS int id; None where a deleted id was
        self.hashes = hashes
        self._position: dict[str, int] | None = None  # built when first needed: searching never needs it (10M ids: 1 GB)
        # a flat index's vectors mapped from `vectors.npy` (64-byte aligned): FAISS's own file maps
        # them at an odd offset, and numpy copies unaligned operands on every product (4.6 ms, not 0.8)
        self.aligned: np.ndarray | None = None
        self.exact: ExactRows | None = None  # IVF-PQ: the float16 copies candidates are scored against

    @property
    def position(self) -> dict[str, int]:
        """Graph id → FAISS position."""
        if self._position is None:
            self._position = {g: i for i, g in enumerate(self.ids) if g is not None}
        return self._position

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        name: str,
        model: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        hashes: Sequence[str] | None = None,
        *,
        ivf_threshold: int = IVF_THRESHOLD,
        recall_target: float = RECALL_TARGET,
        seed: int = 0,
        tune_queries: np.ndarray | None = None,
    ) -> VectorIndex:
        """`tune_queries`: vectors like the searches to come (script steps for the intention index).
        Queries from another distribution than the indexed vectors need many more probes: on 1M
        purchase intentions, nprobe 8 gave recall@10 0.95 for held-out intentions but 0.64 for
        script steps, which needed nprobe 512."""
        vectors = _as_matrix(vectors)
        if len(ids) != len(vectors) or len(set(ids)) != len(ids):
            raise IntentKBError("index build: ids must be unique and one per vector")
        dim = vectors.shape[1]
        if len(ids) < ivf_threshold:
            meta = IndexMeta(name=name, model=model, dim=dim, kind="flat")
            index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            nlist = max(1, int(4 * math.sqrt(len(ids))))
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(len(vectors), size=min(len(vectors), nlist * 64), replace=False)]
            ivf.train(sample)
            meta = IndexMeta(name=name, model=model, dim=dim, kind="ivf", nlist=nlist, trained_on=len(ids), codec="fp16")
            index = ivf
        out = cls(meta, index, [], [])
        out.add(ids, vectors, hashes or [None] * len(ids), model=model)
        if meta.kind == "ivf":
            out._tune_nprobe(vectors, recall_target, seed, tune_queries)
        return out

    def _tune_nprobe(self, vectors: np.ndarray, target: float, seed: int, tune_queries: np.ndarray | None, queries: int = 500, k: int = 10) -> None:
        """Smallest nprobe of 1, 2, 3, 4, 6, 8, 12, … (steps of ×1.5 and ×4/3) whose recall@10
        against exact search reaches the target, on the given queries, else on held-out indexed
        vectors (each one's own entry left out)."""
        rng = np.random.default_rng(seed + 1)
        if tune_queries is not None and len(tune_queries):
            tune_queries = _as_matrix(tune_queries)
            q = tune_queries[rng.choice(len(tune_queries), size=min(queries, len(tune_queries)), replace=False)]
            own = np.full(len(q), -1)
            self.meta.tuned_on = "queries"
        else:
            own = rng.choice(len(vectors), size=min(queries, len(vectors)), replace=False)
            q = vectors[own]
            self.meta.tuned_on = "held-out"
        # exact search without a copy of the vectors; ids are positions (the build added them from 0)
        _, truth = faiss.knn(q, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
        self.sweep_nprobe(q, truth, own, target, k)

    def sweep_nprobe(self, q: np.ndarray, truth: np.ndarray, own: np.ndarray, target: float, k: int = 10) -> None:
        """Raise nprobe until recall@k of the queries `q` against their exact top k+1 positions
        `truth` reaches `target` (`own`: a query's own position, left out of both; -1 for none)."""
        truth_sets = [set(t[t != o][:k]) for t, o in zip(truth, own)]
        nprobe, recall = 1, 0.0
        while True:
            cast(Any, self.index).nprobe = nprobe  # an IVF index (the stubs type it as the base Index)
            _, got = self.search_positions(q, k + 1)
            recall = float(np.mean([len(t & set(g[g != o][:k])) / k for t, g, o in zip(truth_sets, got, own)]))
            if recall >= target or nprobe >= (self.meta.nlist or 1):
                break
            nprobe = min(nprobe + 1 if nprobe < 3 else (nprobe * 3 // 2 if _pow2(nprobe) else nprobe * 4 // 3), self.meta.nlist or 1)
        self.meta.nprobe, self.meta.recall_at_10 = nprobe, round(recall, 4)
        self.meta.recall_target, self.meta.target_met = target, recall >= target

    # -- changing ---------------------------------------------------------------------------
    def _check_model(self, model: str | None) -> None:
        if model is not None and model != self.meta.model:
            raise ModelMismatch(f"index {self.meta.name!r} was built with {self.meta.model}, not {model}; rebuild it with --rebuild")

    def add(self, ids: Sequence[str], vectors: np.ndarray, hashes: Sequence[str | None] | None = None, *, model: str | None = None) -> int:
        """Add new ids, replace the vectors of ids already present; returns how many were added."""
        self._check_model(model)
        if len(ids):
            self._changeable()
        vectors = _as_matrix(vectors)
        if vectors.shape[1] != self.meta.dim:
            raise ModelMismatch(f"vectors of dimension {vectors.shape[1]} for an index of dimension {self.meta.dim}")
        hashes = list(hashes) if hashes is not None else [None] * len(ids)
        present = [g for g in ids if g in self.position]
        if present:
            self.remove(present)
        start = len(self.ids)
        self.ids.extend(ids)
        self.hashes.extend(hashes)
        for i, g in enumerate(ids, start=start):
            self.position[g] = i
        self.index.add_with_ids(vectors, np.arange(start, start + len(ids), dtype=np.int64))
        self.meta.count = len(self.position)
        return len(ids) - len(present)

    def remove(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if ids:
            self._changeable()
        drop = [self.position.pop(g) for g in ids if g in self.position]
        if drop:
            cast(Any, self.index).remove_ids(np.asarray(drop, dtype=np.int64))  # the Python wrapper takes an id array
            for i in drop:
                self.ids[i] = None
                self.hashes[i] = None
        self.meta.count = len(self.position)
        return len(drop)

    def _changeable(self) -> None:
        if self.meta.kind == "ivfpq":
            raise IntentKBError(f"index {self.meta.name!r} is IVF-PQ: it is rebuilt whole, not changed in place")

    def stale(self, current: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """(ids to (re-)embed: new or changed text, ids to drop: gone from the graph)."""
        todo = [g for g, h in current.items() if g not in self.position or self.hashes[self.position[g]] != h]
        gone = [g for g in self.position if g not in current]
        return todo, gone

    # -- searching --------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, *, model: str | None = None) -> list[list[tuple[str, float]]]:
        scores, found = self.search_positions(vectors, k, model=model)
        return [[(str(self.ids[i]), float(s)) for i, s in zip(row_i, row_s) if i >= 0] for row_i, row_s in zip(found, scores)]

    def search_positions(self, vectors: np.ndarray, k: int, *, model: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) arrays of shape (queries, k'); position -1 where fewer were found."""
        self._check_model(model)
        vectors = _as_matrix(vectors)
        if vectors.shape[1] != self.index.d:
            raise IntentKBError(
                f"query vectors have {vectors.shape[1]} dimensions, the index {self.index.d}: the embedder is not the one the index was built with"
            )
        if not self.index.ntotal:
            return np.zeros((len(vectors), 0), dtype=np.float32), np.zeros((len(vectors), 0), dtype=np.int64)
        k = min(k, self.index.ntotal)
        if self.meta.kind == "flat":
            return self._flat_search(vectors, k)
        if self.meta.kind == "ivfpq":
            return refined_search(self.index, self.exact, vectors, k, self.meta.refine or 1)
        scores, found = self.index.search(vectors, k)
        return scores, found

    def _flat_search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search of a flat index with one matrix product over FAISS's own vectors (no copy):
        for the small batches a server answers, FAISS's BLAS and OpenMP set-up cost more than the
        product (24 queries × 4,000 vectors: 1.2 ms instead of 2.7 ms, and it stays so on a busy machine)."""
        flat: Any = faiss.downcast_index(cast(Any, self.index).index)
        n = flat.ntotal
        xb = self.aligned if self.aligned is not None and len(self.aligned) == n else faiss.rev_swig_ptr(flat.get_xb(), n * flat.d).reshape(n, flat.d)
        ids = faiss.vector_to_array(cast(Any, self.index).id_map)
        sims = vectors @ xb.T
        if k < n:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part = np.take_along_axis(sims, top, axis=1)
        else:
            top, part = np.broadcast_to(np.arange(n), sims.shape), sims
        cand = ids[top]
        order = np.lexsort((cand, -part), axis=1)  # best first, ties by id
        rows = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(part, order, axis=1).astype(np.float32), np.asarray(ids[rows], dtype=np.int64)

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Written whole into a sibling directory, then swapped in by renames: a reader or a crash
        sees the old index, the new one, or none (a build then starts over), never a mix."""
        self._changeable()  # an IVF-PQ index is written by its streaming build (module `pq_index`)
        new = staging_dir(directory)
        faiss.write_index(self.index, str(private_file(new / "index.faiss")))
        if self.meta.kind == "flat":
            flat: Any = faiss.downcast_index(cast(Any, self.index).index)
            with open(private_file(new / "vectors.npy"), "wb") as fh:
                np.save(fh, faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d), allow_pickle=False)
        with private_open(new / "ids.jsonl", "w", encoding="utf-8") as fh:
            for g, h in zip(self.ids, self.hashes):
                fh.write(json.dumps([g, h]) + "\n")
        self.meta.ids_digest = ids_digest(new)
        self.meta.vectors_digest = file_digest(new / "vectors.npy") if self.meta.kind == "flat" else None
        private_write_text(new / "meta.json", self.meta.model_dump_json(indent=2))
        swap_in(new, directory)

    @classmethod
    def load(cls, directory: Path, model: str | None = None, *, mmap: bool = False) -> VectorIndex:
        """`mmap`: the vectors stay in the file, mapped read-only (the processes of `serve --workers N`
        share one copy in the page cache); such an index cannot be changed."""
        try:
            meta = IndexMeta.model_validate_json((directory / "meta.json").read_bytes())
        except FileNotFoundError:
            raise IntentKBError(f"no index in {directory}; run `intentkb index build`") from None
        except (OSError, ValueError) as e:  # pydantic's ValidationError is a ValueError: not JSON, not UTF-8, a field of the wrong type
            raise IntentKBError(
                f"cannot read {directory / 'meta.json'} ({type(e).__name__}); rebuild the index with `intentkb index build --rebuild`"
            ) from None
        if model is not None and model != meta.model:  # before reading what may be gigabytes
            raise ModelMismatch(f"index {meta.name!r} was built with {meta.model}, not {model}; rebuild it with --rebuild")
        # flat: the vectors mapped (and read from the aligned vectors.npy); IVF: the lists mapped
        # (FAISS refuses the two flags together on an IVF file)
        flags = ((faiss.IO_FLAG_MMAP_IFC if meta.kind == "flat" else faiss.IO_FLAG_MMAP) | faiss.IO_FLAG_READ_ONLY) if mmap else 0
        try:
            index = faiss.read_index(str(directory / "index.faiss"), flags)
        except RuntimeError as e:  # FAISS says which file and why, in a C++ trace
            raise IntentKBError(f"cannot read the index in {directory} ({str(e).splitlines()[-1][:200]}); rebuild it") from None
        actual = faiss.downcast_index(index)  # a view: `index` keeps owning the object
        if not isinstance(actual, _KINDS.get(meta.kind, ())):
            raise IntentKBError(f"index in {directory} is not the {meta.kind} index its meta.json says ({type(actual).__name__}); rebuild it")
        if meta.kind in ("ivf", "ivfpq") and meta.nprobe:
            cast(Any, index).nprobe = meta.nprobe
        ids, hashes = read_ids(directory, meta.ids_digest, keep_hashes=not mmap)  # a mapped index is only searched: 10M hash strings are 0.8 GB
        out = cls(meta, index, ids, hashes)
        if mmap and meta.kind == "flat" and (directory / "vectors.npy").exists():
            out.aligned = aligned_vectors(directory, meta.vectors_digest, (index.ntotal, meta.dim), digests=meta.ids_digest is not None)
        if meta.kind == "ivfpq":  # gigabytes at 10M: only the candidates' rows are read (module `exact_rows`)
            out.exact = ExactRows(directory / "vectors.npy")
        out.meta.count = sum(1 for g in ids if g is not None)
        out._check_model(model)
        if index.ntotal != out.meta.count or (out.exact is not None and out.exact.shape != (len(ids), meta.dim)):
            raise IntentKBError(f"index in {directory} is inconsistent ({index.ntotal} vectors, {out.meta.count} ids); rebuild it")
        return out


def staging_dir(directory: Path) -> Path:
    """An empty sibling `NAME.new` to write an index into before `swap_in`."""
    private_dir(directory.parent)
    new, old = directory.with_name(directory.name + ".new"), directory.with_name(directory.name + ".old")
    for d in (new, old):
        shutil.rmtree(d, ignore_errors=True)
    private_dir(new)
    return new


def swap_in(new: Path, directory: Path) -> None:
    """Replace `directory` by the staged `new` with renames: a reader or a crash sees the old
    index, the new one, or none (a build then starts over), never a mix."""
    old = directory.with_name(directory.name + ".old")
    if directory.exists():
        os.replace(directory, old)
    os.replace(new, directory)
    shutil.rmtree(old, ignore_errors=True)


# the FAISS class each kind is written as (older IVF indexes hold float32 lists: IndexIVFFlat)
_KINDS: dict[str, type | tuple[type, ...]] = {
    "flat": (faiss.IndexIDMap2, faiss.IndexIDMap),
    "ivf": (faiss.IndexIVFScalarQuantizer, faiss.IndexIVFFlat),
    "ivfpq": faiss.IndexIVFPQ,
}


def _pow2(n: int) -> bool:
    return n & (n - 1) == 0


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise IntentKBError("expected a 2-D array of vectors")
    return v


def index_dir(settings: Settings, name: str) -> Path:
    """Indexes belong to one graph of the data directory (`INTENTKB_GRAPH`)."""
    return settings.data_dir / "index" / settings.graph_name / name


def load_intentions_index(settings: Settings, *, mmap: bool = False) -> VectorIndex:
    return VectorIndex.load(index_dir(settings, "intentions"), model=settings_key(settings), mmap=mmap)
