"""The knowledge base's own links as training pairs for the embedding model, split by product pair.

Three kinds of (anchor, positive) pair, each shaped like a question intentkb asks of embeddings:
- `cobuy`: a co-bought pair's titles ↔ its intention as IntentionQA shows it (T1's query and
  answer, shape `t1`), product A with that intention ↔ product B's title, both ways (T2's, `t2`),
  and the intention read as a shopper's need ↔ each product's title (`need`: what `retrieve` asks);
  T1 and T2 again with the FolkScope assertion's reason where the record has one (the form
  IntentionQA's own questions take: "… because they are both used for camping");
- `purchase`: a purchase intention ↔ its product's text (what the product index embeds);
- `step`: a script step ↔ an intention ALIGNED to it at a high score (alignment's own question).

Only intentions the role-aware filter did not reject are used. The split is product-disjoint
(module `split`): a co-buy pair (`group` as the IQA items name it, "A|B" sorted) is held out with
its whole component of co-bought products, and none of its intentions reaches training, so the
before/after questions are about products the model never saw. Purchase and step links carry no
pair and always train.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from ..kb.queries import keyset_pages
from ..kb.store import GraphStore
from ..kb.texts import strip_boilerplate
from ..retrieval.build import product_text
from ..tasks.iqa.builder import shown_intention
from .split import held_out_groups, pair_group

PAGE = 2000
STEP_MIN_SCORE = 0.6  # ALIGNED links this close are the step's meaning; 0.45 (the paper's cut) admits near misses


class Pair(BaseModel):
    anchor: str
    positive: str
    kind: str  # cobuy | purchase | step
    shape: str = ""  # t1 | t2 | need | purchase | step: the question it is shaped like
    group: str | None = None  # the product pair of a co-buy link


def cobuy_pairs(store: GraphStore) -> Iterator[Pair]:
    for rows in keyset_pages(store, "task_iqa_cobuy_page", PAGE):
        for r in rows:
            if r["a"] is None or r["b"] is None or r["accepted"] is False or not r["text"]:
                continue
            group = pair_group(r["a"], r["b"])
            a, b = r["a_title"] or r["a"], r["b_title"] or r["b"]
            shown = shown_intention(r["text"], r["assertion"], [r["a_title"], r["b_title"]])
            need = strip_boilerplate(shown)
            yield Pair(anchor=f"{a} and {b}", positive=need, kind="cobuy", shape="t1", group=group)
            yield Pair(anchor=f"{a}. {need}", positive=b, kind="cobuy", shape="t2", group=group)
            yield Pair(anchor=f"{b}. {need}", positive=a, kind="cobuy", shape="t2", group=group)
            yield Pair(anchor=need, positive=a, kind="cobuy", shape="need", group=group)
            yield Pair(anchor=need, positive=b, kind="cobuy", shape="need", group=group)
            reason = strip_boilerplate(r["assertion"] or "").rstrip("\\* ")
            if reason and reason != need:  # IntentionQA's own options are the FolkScope assertions
                yield Pair(anchor=f"{a} and {b}", positive=reason, kind="cobuy", shape="t1", group=group)
                yield Pair(anchor=f"{a}. {reason}", positive=b, kind="cobuy", shape="t2", group=group)


def purchase_pairs(store: GraphStore) -> Iterator[Pair]:
    for rows in keyset_pages(store, "train_purchase_links_page", PAGE):
        for r in rows:
            if r["accepted"] is not False:
                yield Pair(anchor=strip_boilerplate(r["text"]), positive=product_text(r), kind="purchase", shape="purchase")


def step_pairs(store: GraphStore, min_score: float = STEP_MIN_SCORE) -> Iterator[Pair]:
    for rows in keyset_pages(store, "train_step_links_page", PAGE, {"min_score": min_score}):
        for r in rows:
            for text in r["intentions"]:
                yield Pair(anchor=strip_boilerplate(r["text"]), positive=strip_boilerplate(text), kind="step", shape="step")


class Split(BaseModel):
    train: list[Pair]
    held_out_groups: list[str]
    train_groups: int
    by_kind: dict[str, int]


def split_links(store: GraphStore, kinds: list[str], held_out_share: float, step_min_score: float = STEP_MIN_SCORE) -> Split:
    """Every link of the chosen kinds, deduplicated, with the held-out pairs' co-buy links removed."""
    sources = {"cobuy": lambda: cobuy_pairs(store), "purchase": lambda: purchase_pairs(store), "step": lambda: step_pairs(store, step_min_score)}
    train: list[Pair] = []
    seen: set[tuple[str, str]] = set()
    links = [p for kind in kinds for p in sources[kind]()]
    held = held_out_groups((p.group for p in links if p.group is not None), held_out_share)
    kept: set[str] = set()
    for p in links:
        if p.group is not None:
            if p.group in held:
                continue
            kept.add(p.group)
        if (p.anchor, p.positive) in seen or not p.anchor or not p.positive:
            continue
        seen.add((p.anchor, p.positive))
        train.append(p)
    by_kind: dict[str, int] = {}
    for p in train:
        by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
    return Split(train=train, held_out_groups=sorted(held), train_groups=len(kept), by_kind=by_kind)
