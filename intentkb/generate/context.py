"""What every generation stage needs: settings, the store, the LLM client, paging and product views."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..config import Settings
from ..kb.queries import keyset_pages
from ..kb.store import GraphStore, Row
from ..llm.client import LLMClient
from .stage import StageReport, Work, run_stage

PAGE = 1000
T = TypeVar("T")
_CATALOGUE = ("brand", "color", "size", "model", "material")


@dataclass
class GenContext:
    settings: Settings
    store: GraphStore
    client: LLMClient
    parallel: int
    limit: int | None = None
    progress: bool = True
    dry: bool = False
    source: str = "intentkb generate"

    @property
    def write_store(self) -> GraphStore | None:
        """Where stage results go: nowhere in a dry run."""
        return None if self.dry else self.store

    def rejects_path(self, pipeline: str, stage: str) -> Path:
        return self.settings.rejects_dir / f"generate-{pipeline}-{stage}.rejects.jsonl"

    async def run_stage(
        self, pipeline: str, stage: str, items: Iterable[T], work: Work[T], describe: Callable[[T], dict[str, Any]], *, order: list[str], share: int = 1
    ) -> StageReport:
        """`stage.run_stage` with this run's store, rejects file and progress; `share`: items in
        flight are concurrency // share (a tree makes many calls at once, an attribute one)."""
        return await run_stage(
            pipeline,
            stage,
            items,
            work,
            describe,
            store=self.write_store,
            order=order,
            parallel=max(1, self.parallel // share),
            rejects=self.rejects_path(pipeline, stage),
            progress=self.progress,
        )

    def pages(self, query: str, params: dict[str, Any] | None = None, *, limit: int | None = None) -> Iterator[Row]:
        """Rows of a keyset-paged query (`$after`, `$limit`, rows ordered by `id`), at most `limit`,
        read one page ahead on a thread of its own while the stage works on the current one."""
        return prefetch(self._pages(query, params, limit))

    def _pages(self, query: str, params: dict[str, Any] | None, limit: int | None) -> Iterator[Row]:
        for rows in keyset_pages(self.store, query, PAGE, params, limit=limit if limit is not None else self.limit):
            yield from rows

    @property
    def model(self) -> str:
        return self.client.settings.model

    @property
    def vision(self) -> bool:
        return self.client.settings.vision


_END = object()


def prefetch(rows: Iterator[T], depth: int = 2 * PAGE) -> Iterator[T]:
    """`rows`, produced on a background thread up to `depth` ahead: the next page's query runs on the
    server while this one is processed, instead of stopping the event loop for it."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for row in rows:
                while not stop.is_set():
                    try:
                        q.put(row, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as e:
            q.put(e)

    t = threading.Thread(target=produce, name="intentkb-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def product_view(row: Row, *, prefix: str = "", attributes: list[str] | None = None, vision: bool = False) -> dict[str, Any]:
    """A product as the templates see it: `text` is the title with its attributes (sorted, so the
    prompt, hence the cache key, is the same on every run); `details` the catalogue fields."""
    g = lambda k: row.get(prefix + k)  # noqa: E731
    title = g("title") or g("id") or ""
    if attributes is None:
        attributes = [f"{k}: {g(k)}" for k in _CATALOGUE if g(k)]
    attrs = sorted(dict.fromkeys(a for a in attributes if a))
    details = "; ".join(f"{k}: {g(k)}" for k in (*_CATALOGUE, "category") if g(k))
    desc = (g("desc") or "").strip()
    if desc:
        details = f"{details}; {desc[:600]}" if details else desc[:600]
    images = [u for u in (g("image_urls") or g("images") or []) if u]
    return {
        "id": g("id"),
        "title": title,
        "text": f"{title} ({' | '.join(attrs)})" if attrs else title,
        "details": details,
        "features": g("features") or details or title,
        "category": g("category"),
        "images": images,
        "has_images": bool(images) and vision,
    }
