"""Deterministic benchmark corpora for `bench/retrieval.py`, built from real public text.

- 1,000,000 purchase intentions, each a distinct (product, goal, phrasing) combination: real
  product titles of the Amazon catalogue sample × real goals of CoScript × 4 phrasings.
- past 8M (`many_purchase_intentions`, 10M for `bench/ivfpq.py`): the same with 8 phrasings.
- 100,000 script steps: CoScript's scripts, repeated with a real CoScript constraint added to
  each step from the second repeat on, so that step texts are distinct.
- 5,000 IntentionQA-format questions from the MIND/FolkScope co-buy records (both tasks).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from intentkb.ingest.cobuy import MindCsvReader
from intentkb.ingest.products import CatalogueReader
from intentkb.io.sources import BadLine

_PHRASINGS = [
    "Bought {p} to {g}.",
    "The customer wants {p} in order to {g}.",
    "Needs {p} because they plan to {g}.",
    "Chose {p} as something that helps to {g}.",
]


def short_title(title: str, words: int = 7) -> str:
    t = re.sub(r"\s+", " ", re.sub(r"[\"(\[].*", "", title)).strip(" ,-")
    return " ".join(t.split()[:words]) or title[:60]


def catalogue(shared: Path) -> list[tuple[str, str]]:
    """(product id, short title) of every valid catalogue row."""
    reader = CatalogueReader()
    out = []
    for _, raw in reader.records(shared / "amazon_products" / "test_sample_1000.csv"):
        if isinstance(raw, BadLine):
            continue
        try:
            unit = reader.convert(raw)
        except ValueError:
            continue
        if unit.product.title:
            out.append((unit.product.id, short_title(unit.product.title)))
    return sorted(set(out))


def coscript(shared: Path) -> list[dict[str, Any]]:
    with open(shared / "coscript" / "dev_data.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _goal(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def purchase_intentions(shared: Path, n: int = 1_000_000, seed: int = 11) -> Iterator[dict[str, str]]:
    """`n` distinct purchase-intention rows {product, intention} in the `ingest intentions` format."""
    products = catalogue(shared)
    goals = sorted({_goal(r["Specific Goal"]) for r in coscript(shared) if r.get("Specific Goal")})
    if n > len(products) * len(goals) * len(_PHRASINGS):
        raise ValueError("not enough combinations")
    rng = random.Random(seed)
    seen: set[tuple[int, int, int]] = set()
    while len(seen) < n:
        combo = (rng.randrange(len(products)), rng.randrange(len(goals)), rng.randrange(len(_PHRASINGS)))
        if combo in seen:
            continue
        seen.add(combo)
        p, g, t = combo
        yield {"product": products[p][0], "intention": _PHRASINGS[t].format(p=products[p][1], g=goals[g])}


_MORE_PHRASINGS = ["Picked up {p} so they can {g}.", "Ordered {p} for when they {g}.", "Got {p} hoping to {g}.", "Added {p} to the cart to {g}."]


def many_purchase_intentions(shared: Path, n: int = 10_000_000, seed: int = 13) -> Iterator[tuple[str, str]]:
    """`n` distinct (product asin, intention text) pairs for corpora past `purchase_intentions`'
    8M combinations: the same products and goals with 8 phrasings (16M), drawn without
    replacement as integers (a set of 10M tuples would take gigabytes)."""
    import numpy as np

    products = catalogue(shared)
    goals = sorted({_goal(r["Specific Goal"]) for r in coscript(shared) if r.get("Specific Goal")})
    phrasings = _PHRASINGS + _MORE_PHRASINGS
    total = len(products) * len(goals) * len(phrasings)
    if n > total:
        raise ValueError("not enough combinations")
    for combo in np.random.default_rng(seed).choice(total, size=n, replace=False).tolist():
        p, rest = divmod(combo, len(goals) * len(phrasings))
        g, t = divmod(rest, len(phrasings))
        yield products[p][0], phrasings[t].format(p=products[p][1], g=goals[g])


def scripts(shared: Path, steps: int = 100_000) -> Iterator[dict[str, Any]]:
    """CoScript-format scripts with `steps` steps in all."""
    base = coscript(shared)
    constraints = sorted({r["Constraint"].strip() for r in base if r.get("Constraint")})
    total, repeat = 0, 0
    while True:
        for i, r in enumerate(base):
            script = [re.sub(r"^\s*\d+\.\s*", "", s).strip() for s in r["Script"]]
            if repeat:
                c = constraints[(i * 31 + repeat * 17) % len(constraints)]
                script = [f"{s.rstrip('.')}, {c}." for s in script]
            script = script[: steps - total]
            total += len(script)
            yield {
                "id": f"bench-{repeat}-{r['id']}",
                "Abstract Goal": r["Abstract Goal"],
                "Specific Goal": r["Specific Goal"],
                "Constraint": r.get("Constraint"),
                "Category": r.get("Category"),
                "Script": script,
            }
            if total >= steps:
                return
        repeat += 1


def intentionqa_questions(shared: Path, n: int = 5000, seed: int = 5) -> list[dict[str, Any]]:
    """IntentionQA-format questions (options as a letter → text map, gold_ind a letter), half task 1
    (pair → assertion) and half task 2 (item A + assertion → item B), distractors drawn at random."""
    reader = MindCsvReader()
    units = []
    for f in sorted((shared / "mind_cobuy_folkscope").glob("*.csv")):
        for _, raw in reader.records(f):
            if isinstance(raw, BadLine):
                continue
            try:
                units.append(reader.convert(raw))
            except ValueError:
                continue
    rng = random.Random(seed)
    assertions = sorted({u.intention.assertion or u.intention.text for u in units})
    titles = sorted({t for u in units for t in (u.a.title, u.b.title) if t})
    out = []
    for k in range(n):
        u = units[k % len(units)]
        task = 1 + k % 2
        if task == 1:
            gold, pool = u.intention.assertion or u.intention.text, assertions
        else:
            gold, pool = u.b.title or u.b.id, titles
        options = [gold] + rng.sample([x for x in rng.sample(pool, 8) if x != gold], 3)
        rng.shuffle(options)
        letters = "ABCD"
        out.append(
            {
                "id": f"bench-{k}",
                "task": task,
                "item_a_id": u.a.asin,
                "item_b_id": u.b.asin,
                "item_a_name": u.a.title,
                "item_b_name": u.b.title,
                "relation": u.intention.relation,
                "assertion": u.intention.assertion or u.intention.text,
                "options": dict(zip(letters, options)),
                "gold_ind": letters[options.index(gold)],
            }
        )
    return out
