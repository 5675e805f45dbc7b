"""Hard negatives for the reranker, mined by the current embedder.

A cross-encoder taught only "this pair fits" against random texts learns topic, not fit: random
intentions are about other things altogether. The negatives that teach it are the ones the
embedder already confuses with the answer: for each anchor, the candidates of the same kind
(intentions for `t1`/`step` anchors, product texts for `t2`/`need`/`purchase` ones) that it ranks
highest, leaving out the anchor's true answers, anything of the same co-buy pair (its other
intentions are true too) and near-copies of a true answer (cosine ≥ `SAME_MEANING`: a paraphrase
is not wrong). Negatives are drawn, seeded, from the `POOL` best of what is left, so some are very
hard and some merely hard; `random_negatives` more are drawn from anywhere, so that the model also
learns that an unrelated candidate is wrong — trained on hard ones alone, it scored a toner
cartridge 0.81 for "renew my passport".
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

from ..retrieval.embeddings import Embedder
from .links import Pair

POOL = 20  # negatives are drawn from this many of the nearest wrong candidates
SAME_MEANING = 0.95
DOC_KIND = {"t1": "intention", "step": "intention", "t2": "product", "need": "product", "purchase": "product"}


def mine(pairs: list[Pair], embedder: Embedder, negatives: int, seed: int = 0, random_negatives: int = 0) -> list[tuple[str, str, float]]:
    """(query, candidate, label): each distinct link once with label 1.0, and up to `negatives`
    mined negatives per anchor with 0.0."""
    rng = random.Random(seed)
    truths: dict[str, set[str]] = defaultdict(set)
    groups_of_doc: dict[str, set[str]] = defaultdict(set)
    kind_of_anchor: dict[str, str] = {}
    group_of_anchor: dict[str, str | None] = {}
    for p in pairs:
        truths[p.anchor].add(p.positive)
        kind_of_anchor[p.anchor] = DOC_KIND.get(p.shape, "intention")
        group_of_anchor.setdefault(p.anchor, p.group)
        if p.group:
            groups_of_doc[p.positive].add(p.group)
    out: list[tuple[str, str, float]] = [(a, d, 1.0) for a, ds in truths.items() for d in sorted(ds)]
    if negatives <= 0 and random_negatives <= 0:
        return out
    for kind in ("intention", "product"):
        anchors = [a for a in truths if kind_of_anchor[a] == kind]
        docs = sorted({d for a in anchors for d in truths[a]})
        if not anchors or len(docs) < 2:
            continue
        vecs = embedder.encode(list(dict.fromkeys([*anchors, *docs])))
        slot = {t: i for i, t in enumerate(dict.fromkeys([*anchors, *docs]))}
        dv = vecs[[slot[d] for d in docs]]
        want = min(len(docs), POOL + 8)
        for start in range(0, len(anchors), 512):
            chunk = anchors[start : start + 512]
            sims = vecs[[slot[a] for a in chunk]] @ dv.T
            top = np.argpartition(-sims, want - 1, axis=1)[:, :want]
            for row, a in enumerate(chunk):
                true_vecs = vecs[[slot[t] for t in truths[a] if t in slot]]
                group = group_of_anchor.get(a)
                cands = sorted(top[row], key=lambda j: -sims[row, j])
                pool = []
                for j in cands:
                    d = docs[j]
                    if d in truths[a] or (group and group in groups_of_doc[d]):
                        continue
                    if len(true_vecs) and float((true_vecs @ dv[j]).max()) >= SAME_MEANING:
                        continue
                    pool.append(d)
                    if len(pool) == POOL:
                        break
                out.extend((a, d, 0.0) for d in rng.sample(pool, min(negatives, len(pool))))
                far = [d for d in rng.sample(docs, min(len(docs), random_negatives + len(truths[a]) + 4)) if d not in truths[a] and d not in pool]
                far = [d for d in far if not (group and group in groups_of_doc[d])]
                out.extend((a, d, 0.0) for d in far[:random_negatives])
    return out
