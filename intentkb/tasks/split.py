"""The train/test split of task items: an item goes to test when a hash of (seed, its group) falls in
the first `test_fraction` of the hash range. The group is the session / script / co-bought pair it
comes from, so one session never has questions on both sides, and an item's split never changes when
the graph grows or the export is repeated. Shared by `tasks export`, `export knowledge` (leakage)
and `eval run --split`."""

from __future__ import annotations

from functools import lru_cache

from .items import short_hash

SPLITS: tuple[str, ...] = ("train", "test")


@lru_cache(maxsize=1 << 16)  # a group's items come together: hash it once
def split_of(group: str, seed: int, test_fraction: float) -> str:
    u = int(short_hash(str(seed), group, n=15), 16) / 16**15
    return "test" if u < test_fraction else "train"
