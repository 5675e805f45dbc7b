"""The float16 copies an IVF-PQ index re-ranks its candidates against, read from disk row by row.

Read with positional reads, not mapped: a mapping puts every page it touches, and the kernel's
fault-around neighbours of each, in the process's RSS. At 10M intentions, 520 queries of 110
candidates made the whole 4.9 GB file resident (peak RSS 7.5 GB); with reads only the candidates'
rows pass through the page cache, which is shared and reclaimable, and the process keeps nothing.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import faiss
import numpy as np

from ..errors import IntentKBError


class ExactRows:
    """Rows of a 2-D `.npy` file (float16, C order), read on demand."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise IntentKBError(f"{path} is missing: an IVF-PQ index re-ranks against it; rebuild the index")
        with open(path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(fh)
            except (ValueError, OSError) as e:
                raise IntentKBError(f"{path} is not a vector file ({e}); rebuild the index") from None
            self.offset = fh.tell()
        if len(shape) != 2 or fortran or dtype != np.float16:
            raise IntentKBError(f"{path} holds {dtype} {shape}, not float16 rows; rebuild the index")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.row_bytes = self.shape[1] * 2
        if os.path.getsize(path) < self.offset + self.shape[0] * self.row_bytes:
            raise IntentKBError(f"{path} is shorter than its {self.shape[0]:,} rows; rebuild the index")
        self.fd = os.open(path, os.O_RDONLY)
        self._closed = weakref.finalize(self, os.close, self.fd)  # with the index that holds it

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions` (any order, repeats allowed) as float16."""
        positions = np.asarray(positions, dtype=np.int64).ravel()
        if len(positions) and (positions.min() < 0 or positions.max() >= self.shape[0]):
            raise IntentKBError("a row outside the vector file: the index and its vectors disagree; rebuild the index")
        unique, back = np.unique(positions, return_inverse=True)  # each row read once, in file order
        buf = bytearray(len(unique) * self.row_bytes)
        view = memoryview(buf)
        for j, p in enumerate(unique.tolist()):
            at = j * self.row_bytes
            if os.preadv(self.fd, [view[at : at + self.row_bytes]], self.offset + p * self.row_bytes) != self.row_bytes:
                raise IntentKBError("the vector file ended early; rebuild the index")
        return np.frombuffer(buf, dtype=np.float16).reshape(len(unique), self.shape[1])[back]

    def close(self) -> None:
        self._closed()


def refined_search(index: faiss.Index, exact: ExactRows | None, vectors: np.ndarray, k: int, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `refine × k` candidates of a compressed index, scored again exactly against the
    vectors' float16 copies and cut to k: PQ distances only have to rank the true top k among
    the candidates, not in order."""
    if exact is None:
        raise IntentKBError("an IVF-PQ index without its vectors.npy; rebuild it")
    _, cand = index.search(vectors, k * refine)
    ok = cand >= 0
    rows = exact[np.where(ok, cand, 0)].astype(np.float32).reshape(cand.shape[0], cand.shape[1], -1)
    sims = np.where(ok, np.einsum("qcd,qd->qc", rows, vectors), -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(sims, order, axis=1)
    found = np.where(np.isfinite(scores), np.take_along_axis(cand, order, axis=1), -1)
    return np.where(np.isfinite(scores), scores, 0.0).astype(np.float32), found.astype(np.int64)
