"""Runs one pipeline stage: items through an async worker, results to the graph in atomic batches,
failures to a rejects file, and a report where `items = written + rejected (+ deferred)`.

Every write is a MERGE on deterministic ids and every unit of work (a node's children, a product's
attributes, one intention) lands in one transaction, so a run killed at any point leaves whole
units only; the next run skips what the graph already holds and takes replies from the cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, model_validator
from tqdm import tqdm

from ..io.rejects import RejectsJsonl
from ..kb.store import GraphStore, PreparedWrite, WriteStats
from ..llm.responses import Deferred, Rejected
from ..private import redact

T = TypeVar("T")

Write = tuple[str, dict[str, Any]]  # (named query, one row of its $rows)


@dataclass
class Outcome:
    """What became of one item: its writes, or why it was rejected / deferred."""

    writes: list[Write] = field(default_factory=list)
    rejected: str | None = None
    raw: str | None = None
    deferred: bool = False


Work = Callable[[T, Callable[[list[Write]], None]], Awaitable["Outcome"]]  # work(item, emit) -> Outcome


class StageReport(BaseModel):
    pipeline: str
    stage: str
    items: int = 0
    written: int = 0
    rejected: int = 0
    deferred: int = 0
    rejects_file: str | None = None
    graph: WriteStats = WriteStats()
    seconds: float = 0.0

    @model_validator(mode="after")
    def _balanced(self) -> StageReport:
        if self.items != self.written + self.rejected + self.deferred:
            raise ValueError(f"items {self.items} != written {self.written} + rejected {self.rejected} + deferred {self.deferred}")
        return self

    def line(self) -> str:
        text = f"{self.pipeline}/{self.stage}: items {self.items} = written {self.written} + rejected {self.rejected}"
        if self.deferred:
            text += f" + deferred {self.deferred} (batch)"
        if self.rejected and self.rejects_file:
            text += f" (rejects: {self.rejects_file})"
        return text + f"; {self.graph.nodes_created} nodes, {self.graph.relationships_created} edges created in {self.seconds:.1f}s"


class GraphWriter:
    """Collects item writes and sends them as one transaction per flush, off the event loop.

    Rows of one query are sent together as `$rows`; queries run in `order`, so a batch that holds
    roots and children writes the roots first. A whole item is always in one flush."""

    def __init__(self, store: GraphStore | None, order: list[str], max_rows: int = 2000, max_wait: float = 0.2) -> None:
        self.store = store
        self.order = order
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.stats = WriteStats()
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._n = 0
        self._first = 0.0
        self._flushing: asyncio.Task[None] | None = None

    def add(self, writes: list[Write]) -> None:
        if not self._n:
            self._first = time.monotonic()
        for query, row in writes:
            self._rows.setdefault(query, []).append(row)
            self._n += 1

    def due(self) -> bool:
        return self._n >= self.max_rows or (self._n > 0 and time.monotonic() - self._first >= self.max_wait)

    async def flush(self) -> None:
        """Send everything collected, after the flush in flight (if any) has landed."""
        if self._flushing is not None:
            task, self._flushing = self._flushing, None
            await task
        await self._send()

    async def flush_soon(self) -> None:
        """Start sending without waiting (one flush in flight at most), so calls go on meanwhile."""
        if self._flushing is not None:
            if not self._flushing.done():
                return
            task, self._flushing = self._flushing, None
            task.result()  # a failed write stops the run here
        self._flushing = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        if not self._n:
            return
        rows, self._rows, self._n = self._rows, {}, 0
        if self.store is None:
            return
        prepared: PreparedWrite | None = None
        for query in sorted(rows, key=lambda q: self.order.index(q) if q in self.order else len(self.order)):
            part = self.store.prepare_write(query, {"rows": rows[query]})
            prepared = part if prepared is None else prepared + part
        if prepared is not None:
            self.stats += await asyncio.to_thread(self.store.execute, prepared)


async def run_stage(
    pipeline: str,
    stage: str,
    items: Iterable[T],
    work: Work[T],
    describe: Callable[[T], dict[str, Any]],
    *,
    store: GraphStore | None,
    order: list[str],
    parallel: int,
    rejects: Path,
    progress: bool = True,
) -> StageReport:
    """Run `work(item, emit)` over `items` with at most `parallel` items in flight; `emit` sends
    a finished unit of an item to the graph at once (a tree's nodes as they are generated)."""
    t0 = time.perf_counter()
    writer = GraphWriter(store, order)
    sink = RejectsJsonl(rejects)
    report = {"items": 0, "written": 0, "rejected": 0, "deferred": 0}
    bar = tqdm(desc=f"{pipeline} {stage}", unit="item", disable=not progress, leave=False, dynamic_ncols=True)

    async def one(item: T) -> tuple[T, Outcome]:
        try:
            return item, await work(item, writer.add)
        except Rejected as e:
            return item, Outcome(rejected=e.reason, raw=e.raw)
        except Deferred:
            return item, Outcome(deferred=True)

    def settle(item: T, out: Outcome) -> None:
        report["items"] += 1
        if out.writes:
            writer.add(out.writes)
        if out.rejected is not None:
            report["rejected"] += 1
            # the client redacts what it knows (the key, URL credentials); this catches any other credential shape
            sink.write({"item": describe(item), "reason": redact(out.rejected), "raw": redact(out.raw) if out.raw else out.raw})
        elif out.deferred:
            report["deferred"] += 1
        else:
            report["written"] += 1
        bar.update(1)

    active: set[asyncio.Task[tuple[T, Outcome]]] = set()
    unsettled: set[asyncio.Task[tuple[T, Outcome]]] = set()  # created and not yet settled

    async def settle_some() -> None:
        nonlocal active
        done, active = await asyncio.wait(active, timeout=writer.max_wait, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            unsettled.discard(task)
            settle(*task.result())
        if writer.due():
            await writer.flush_soon()

    try:
        for item in items:
            while len(active) >= parallel:
                await settle_some()
            task = asyncio.ensure_future(one(item))
            active.add(task)
            unsettled.add(task)
        while active:
            await settle_some()
        await writer.flush()
    except BaseException:
        # a fatal error (bad key, endpoint down, store failure): stop the others and collect their
        # outcomes, so that nothing is reported later as an exception never retrieved
        for task in unsettled:
            task.cancel()
        await asyncio.gather(*unsettled, return_exceptions=True)
        raise
    finally:
        bar.close()
        sink.close()
    return StageReport(
        pipeline=pipeline,
        stage=stage,
        **report,
        graph=writer.stats,
        rejects_file=str(rejects) if sink.count else None,
        seconds=round(time.perf_counter() - t0, 3),
    )
