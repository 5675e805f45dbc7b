"""`eval run --inject K`: the K intentions of the knowledge base nearest to an item's inputs, put in
its prompt as background (the `knowledge` block of every task template).

The item's inputs (product titles, intentions, steps: every text it shows, ids left out) are
embedded and searched in the intention index. A found intention is never shown when it
- is one of the nodes the item is made of (`provenance.nodes`: the answer's own intention among them);
- belongs to the item's group: a co-buy intention of the same pair, an intention of the same
  session's tree, an intention aligned to a step of the same script;
- was rejected by the role-aware filter;
- says what one of the item's options says (its text, or the option's text inside it).
Each result row records the intention ids injected; the run record counts what each rule left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..config import Settings
from ..kb.store import GraphStore
from ..kb.texts import snippet, strip_boilerplate
from ..retrieval.embeddings import embedding_text, open_embedder
from ..retrieval.index import load_intentions_index
from ..tasks.items import TaskItem
from ..tasks.registry import get_benchmark

QUERY_CHARS = 1000  # of an item's inputs, embedded as its query
SHOWN_CHARS = 240  # of an injected intention's text
_SKIP = {"id", "image", "session", "step", "idx"}


def query_text(value: Any) -> str:
    """Every text an item's inputs show, in order, ids and images left out."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k not in _SKIP:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return "; ".join(t.strip() for t in out if t.strip())[:QUERY_CHARS]


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


class Injector:
    """Holds the intention index, the embedder and per-group lookups for one evaluation run."""

    def __init__(self, store: GraphStore, settings: Settings, k: int) -> None:
        self.store, self.k = store, k
        self.index = load_intentions_index(settings)
        self.embedder = open_embedder(settings)
        self._aligned: dict[tuple[str, str], set[str]] = {}  # (query, group) -> the intentions the group owns
        self.left_out: Counter[str] = Counter()
        self.items = 0
        self.shown = 0

    def close(self) -> None:
        if self.embedder.cache:
            self.embedder.cache.close()

    def _group_intentions(self, benchmark: str, group: str) -> set[str]:
        query = get_benchmark(benchmark).group_intentions
        if query is None:
            return set()
        if (query, group) not in self._aligned:
            self._aligned[(query, group)] = {r["id"] for r in self.store.run(query, {"group": group})}
        return self._aligned[(query, group)]

    def _why_not(self, item: TaskItem, c: dict[str, Any]) -> str | None:
        if c["id"] in set(item.provenance.nodes):
            return "the item's own nodes"
        if c.get("accepted") is False:
            return "rejected by the filter"
        group = item.group
        if c["kind"] == "cobuy" and len(c["products"]) == 2 and "|".join(sorted(c["products"])) == group:
            return "the item's group"
        if group in c["sessions"]:
            return "the item's group"
        if c["id"] in self._group_intentions(item.benchmark, group):
            return "the item's group"
        text = _fold(c["text"] or "")
        for option in item.options.values():
            o = _fold(option)
            if len(o) >= 12 and (o in text or text in o):
                return "says an option"
        return None

    def knowledge(self, items: Sequence[TaskItem]) -> list[list[dict[str, str]]]:
        """For each item, up to K intentions: [{id, text}] nearest first."""
        if not items:
            return []
        vectors = self.embedder.encode([embedding_text(query_text(it.inputs)) for it in items])
        width = 4 * self.k + 20
        hits = self.index.search(vectors, width, model=self.embedder.key)
        ids = sorted({g for hs in hits for g, _ in hs})
        info = {r["id"]: r for r in self.store.run("inject_candidates", {"ids": ids})} if ids else {}
        out = []
        for item, hs in zip(items, hits):
            chosen: list[dict[str, str]] = []
            seen: set[str] = set()
            for g, _ in hs:
                c = info.get(g)
                if c is None or not c.get("text"):
                    continue
                why = self._why_not(item, c)
                if why is not None:
                    self.left_out[why] += 1
                    continue
                shown = snippet(strip_boilerplate(c["text"]), SHOWN_CHARS)
                if _fold(shown) in seen:
                    continue
                seen.add(_fold(shown))
                chosen.append({"id": g, "text": shown})
                if len(chosen) == self.k:
                    break
            self.items += 1
            self.shown += len(chosen)
            out.append(chosen)
        return out

    def record(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "index": "intentions",
            "model": self.embedder.key,
            "intentions_in_index": self.index.meta.count,
            "items": self.items,
            "intentions_shown": self.shown,
            "left_out": dict(self.left_out),
        }
