"""A product-disjoint split of co-buy pairs: no product is on both sides of it.

Holding out pairs one by one leaves a held-out pair's products in training through their other
pairs, and a model that has learnt a product's title from one pair answers questions about another
pair of it from memory. Here the pairs are joined into connected components over their products
(union-find); a whole component is held out or kept, decided by a hash of its smallest product id,
so the split is the same on every run and machine and no product crosses it. Co-buy graphs are
sparse (the shared MIND records: 3,499 pairs, 6,345 products, the largest component 20 products),
so the share held out stays close to the share asked for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _hashed_below(key: str, share: float) -> bool:
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return h / 2**64 < share


def pair_group(a: str, b: str) -> str:
    """A co-buy pair's name as the IQA items give it: the two product ids, sorted, joined by '|'."""
    return "|".join(sorted((a, b)))


def held_out_groups(groups: Iterable[str], share: float) -> set[str]:
    """The pairs ("A|B") held out: those whose component's hash falls below `share`."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = [g.split("|", 1) for g in set(groups)]
    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root is the component's smallest id
    return {f"{a}|{b}" for a, b in pairs if _hashed_below(find(a), share)}
