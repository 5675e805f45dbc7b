"""The files of a saved index, read back checked: `meta.json` records digests of `ids.jsonl` (line p
names the vector at FAISS position p) and of an exact index's `vectors.npy` (what a server maps and
searches), so a file that is damaged, reordered or of another build is refused with "rebuild the
index" instead of answering other products."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np

from ..errors import IntentKBError

REBUILD = "rebuild the index with `intentkb index build --rebuild`"


def file_digest(path: Path) -> str:
    """blake2b of a file (~1 GB/s): written beside what a build saves, checked when it is read."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ids_digest(directory: Path) -> str:
    """The digest of an index's ids.jsonl: which build its positions belong to."""
    return file_digest(directory / "ids.jsonl")


def read_ids(directory: Path, digest: str | None, *, keep_hashes: bool) -> tuple[list[str | None], list[str | None]]:
    """ids.jsonl, line p the id (and text hash) at FAISS position p, checked against the digest
    the build wrote into meta.json: a file of another build (or reordered) is refused, not served.
    Rows are checked one by one only for an index saved before digests (10M rows: +10 s)."""
    try:
        if digest is not None and ids_digest(directory) != digest:
            raise IntentKBError(f"{directory / 'ids.jsonl'} is not the file this index was built with; {REBUILD}")
        ids: list[str | None] = []
        hashes: list[str | None] = []
        with open(directory / "ids.jsonl", encoding="utf-8") as fh:
            for line in fh:
                g, h = json.loads(line)
                ids.append(g)
                hashes.append(h if keep_hashes else None)
        if digest is None and not all(isinstance(v, str) or v is None for v in itertools.chain(ids, hashes)):
            raise ValueError("a row is not [id, hash]")
    except FileNotFoundError:
        raise IntentKBError(f"{directory / 'ids.jsonl'} is missing; {REBUILD}") from None
    except (OSError, ValueError, TypeError) as e:  # JSON errors, undecodable bytes and rows that do not unpack into two
        raise IntentKBError(f"cannot read {directory / 'ids.jsonl'} ({type(e).__name__}: {str(e)[:120]}); {REBUILD}") from None
    return ids, hashes


def aligned_vectors(directory: Path, digest: str | None, shape: tuple[int, int], *, digests: bool) -> np.ndarray:
    """A flat index's vectors.npy, mapped: what a server searches instead of FAISS's own copy, so it
    must be the build's (its digest) and of the index's shape (reordered rows answered other
    products; another width was a 500 on every request). `digests`: the index was saved with
    digests (meta.json has that of ids.jsonl), so this one cannot be missing."""
    path = directory / "vectors.npy"
    if digest is None and digests:  # written by a build that records digests, yet without this one: not a build's meta.json
        raise IntentKBError(f"{directory / 'meta.json'} records no digest of {path.name} beside that of ids.jsonl; {REBUILD}")
    try:
        if digest is not None and file_digest(path) != digest:
            raise IntentKBError(f"{path} is not the file this index was built with; {REBUILD}")
        aligned = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise IntentKBError(f"cannot read {path} ({type(e).__name__}); {REBUILD}") from None
    if aligned.shape != shape or aligned.dtype != np.float32:
        raise IntentKBError(f"{path} holds {aligned.shape} {aligned.dtype}, not the index's {shape} float32; {REBUILD}")
    return aligned
