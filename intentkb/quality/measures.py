"""The measures of the knowledge-quality report, on plain Python data (the report reads the graph).

- **near-duplicates**: intentions with another of the same pair (same products) or the same
  relation at embedding cosine ≥ `NEAR_DUPLICATE` — a paraphrase adds nothing to the graph;
- **generic**: an intention's core (the FolkScope assertion's reason after "because", else its
  first sentence without boilerplate) said of many pairs that share no product — "they are both
  used for the same purpose" explains everything and so nothing;
- **diversity**: distinct-1 and distinct-2 (Li et al., NAACL 2016): distinct n-grams over all
  n-grams of the texts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from ..kb.texts import first_sentence, strip_boilerplate

NEAR_DUPLICATE = 0.95
GENERIC_MIN_PAIRS = 5  # a core said of at least this many pairs sharing no product is generic
_BECAUSE = re.compile(r"\bbecause\s+(.+)$", re.I | re.S)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def core(text: str, assertion: str | None) -> str:
    """What an intention says, folded: the assertion's reason when there is one, else the text's
    first sentence without its boilerplate opening."""
    m = _BECAUSE.search(assertion or "")
    said = m.group(1) if m else first_sentence(strip_boilerplate(text or ""))
    return " ".join(_WORD.findall(said.casefold()))


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    grams: set[tuple[str, ...]] = set()
    total = 0
    for t in texts:
        words = _WORD.findall(t.casefold())
        for i in range(len(words) - n + 1):
            grams.add(tuple(words[i : i + n]))
            total += 1
    return round(len(grams) / total, 4) if total else None


def disjoint_pairs(pairs: Iterable[frozenset[str]]) -> int:
    """How many of `pairs` share no product with one another (greedy, in sorted order): the number
    of unrelated pairs a phrase is said of."""
    used: set[str] = set()
    n = 0
    for p in sorted(pairs, key=sorted):
        if not p & used:
            used |= p
            n += 1
    return n


def generic_phrases(cores: Sequence[str], pairs: Sequence[frozenset[str]]) -> list[tuple[str, int, int, list[int]]]:
    """(core, intentions, unrelated pairs, intention indexes) of every core said of at least
    `GENERIC_MIN_PAIRS` pairs sharing no product, most widespread first."""
    by_core: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cores):
        if c and pairs[i]:
            by_core[c].append(i)
    out = []
    for c, idx in by_core.items():
        if len(idx) >= GENERIC_MIN_PAIRS:
            unrelated = disjoint_pairs({pairs[i] for i in idx})
            if unrelated >= GENERIC_MIN_PAIRS:
                out.append((c, len(idx), unrelated, idx))
    return sorted(out, key=lambda x: (-x[2], -x[1], x[0]))


def near_duplicates(vectors: np.ndarray, groups: Sequence[Iterable[str]], threshold: float = NEAR_DUPLICATE) -> np.ndarray:
    """A mask of the intentions that have another in one of their groups at cosine ≥ `threshold`
    (vectors normalised). Each group is compared within itself only, in blocks."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, gs in enumerate(groups):
        for g in gs:
            members[g].append(i)
    dup = np.zeros(len(vectors), dtype=bool)
    for idx in members.values():
        if len(idx) < 2:
            continue
        ids = np.asarray(idx)
        v = vectors[ids]
        for start in range(0, len(ids), 1024):
            sims = v[start : start + 1024] @ v.T
            for r in range(sims.shape[0]):
                sims[r, start + r] = -1.0  # not itself
            dup[ids[start : start + 1024][(sims >= threshold).any(axis=1)]] = True
    return dup


def histogram(values: Sequence[float], bins: int = 10) -> list[tuple[float, float, int]]:
    """(low, high, count) over [0, 1] in `bins` equal bins: the critic's score distribution."""
    counts, edges = np.histogram(np.clip(np.asarray(values, dtype=float), 0, 1), bins=bins, range=(0.0, 1.0))
    return [(round(float(edges[i]), 2), round(float(edges[i + 1]), 2), int(c)) for i, c in enumerate(counts)]
