"""`ingest_file`: stream a file through its reader into the store, batch by batch."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from ..errors import FormatError, IntentKBError
from ..io.rejects import RejectSink, default_rejects_path, explain
from ..io.sources import BadLine, InputBroken, base_suffix, csv_header, is_json_array
from ..kb.store import GraphNotEmpty, GraphStore, PreparedWrite, WriteStats
from .base import Reader
from .cobuy import IntentionQAReader, MindCsvReader
from .intentions import PurchaseIntentionsReader
from .products import CatalogueReader, M2ProductsReader
from .scripts import CoScriptReader
from .sessions import M2SessionsReader
from .summary import IngestFailed, IngestSummary
from .trees import TreesReader

FORMATS: dict[str, dict[str, type[Reader]]] = {
    "products": {"m2": M2ProductsReader, "catalog": CatalogueReader},
    "sessions": {"m2": M2SessionsReader},
    "cobuy": {"mind": MindCsvReader, "intentionqa": IntentionQAReader},
    "scripts": {"coscript": CoScriptReader},
    "intentions": {"purchase": PurchaseIntentionsReader},
    "trees": {"intentkb": TreesReader},
}
KINDS = tuple(FORMATS)
MODES = ("auto", "bulk", "merge")


class _BackgroundWriter:
    """Writes batches on a thread so that reading and validating the next batch overlaps the
    server's work on this one; at most two batches wait, so memory stays bounded."""

    def __init__(self, store: GraphStore, on_done: Callable[[int], None]) -> None:
        self.store = store
        self.on_done = on_done
        self.written = WriteStats()
        self.loaded = 0
        self.error: BaseException | None = None
        self.queue: queue.Queue[tuple[int, list[PreparedWrite]] | None] = queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._loop, name="intentkb-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: after a failure nothing more is written
            units, plan = item
            try:
                for prepared in plan:
                    self.written += self.store.execute(prepared)
                self.loaded += units
                self.on_done(units)
            except BaseException as e:
                self.error = e

    def submit(self, units: int, plan: list[PreparedWrite]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((units, plan))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def detect_format(kind: str, path: Path) -> str:
    """Pick the reader from the file itself when the user names no format."""
    options = FORMATS[kind]
    if len(options) == 1:
        return next(iter(options))
    suffix = base_suffix(path)
    if kind == "cobuy":
        return "intentionqa" if suffix in (".jsonl", ".json") else "mind"
    if kind == "products":
        if suffix == ".parquet":
            return "m2"
        return "catalog" if "Product Url" in csv_header(path) else "m2"
    raise FormatError(f"cannot tell the format of {path}; pass --format")


def ingest_file(
    store: GraphStore,
    kind: str,
    path: Path | str,
    *,
    fmt: str | None = None,
    rejects_path: Path | None = None,
    batch_size: int | None = None,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
    mode: str = "auto",
    workers: int | None = None,
) -> IngestSummary:
    """Load one file; bad rows go to the rejects file, good rows load, the summary balances.

    `mode`: "merge" writes with MERGE (idempotent, any graph); "bulk" builds intention trees into an
    empty embedded graph with GRAPH.BULK (5-10× faster; same graph); "auto" bulk-loads when it can.
    Raises FormatError before writing anything when the file is unreadable or not the format.
    """
    path = Path(path)
    if kind not in FORMATS:
        raise IntentKBError(f"unknown kind {kind!r}; one of {', '.join(FORMATS)}")
    fmt = fmt or detect_format(kind, path)
    if fmt not in FORMATS[kind]:
        raise IntentKBError(f"unknown {kind} format {fmt!r}; one of {', '.join(FORMATS[kind])}")
    reader = FORMATS[kind][fmt]()
    rejects_path = rejects_path or default_rejects_path(store.settings.rejects_dir, path, kind)
    batch_size = batch_size or store.batch_size
    if mode not in MODES:
        raise IntentKBError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    started = time.monotonic()
    if mode != "merge":
        obstacle = bulk_obstacle(store, reader, path)
        if obstacle is None:
            try:
                return _checked(_bulk_file(store, kind, fmt, path, rejects_path, batch_size, progress, echo, workers, started))
            except GraphNotEmpty as e:  # another writer came first: this load merges instead
                obstacle = str(e)
                if echo:
                    echo(f"{path}: {obstacle}; loading with MERGE")
        if mode == "bulk":
            raise IntentKBError(f"cannot bulk-load {path}: {obstacle}")
    records = reader.records(path)
    sink = RejectSink(rejects_path, path, echo)
    read = 0
    batch: list = []
    weight = 0
    bar = tqdm(desc=f"{kind} {path.name}", unit=f" {reader.record_name}", disable=not progress, leave=False)
    it = iter(records)
    first = next(it, None)  # runs the format checks: a wrong file fails here, before any write
    store.setup_schema()
    writer = _BackgroundWriter(store, bar.update)
    broken: InputBroken | None = None

    keys: set[str] = set()

    def flush() -> None:
        nonlocal batch, weight
        if batch:
            writer.submit(len(batch), reader.plan(store, batch))  # encoded here, sent by the writer
            batch, weight = [], 0
            keys.clear()

    try:
        try:
            for line, raw in itertools.chain([first] if first else [], it):
                if isinstance(raw, BadLine):
                    n = reader.records_in(raw)
                    read += n
                    for _ in range(n):
                        sink.add(line, raw.reason, raw)
                    continue
                read += 1
                try:
                    unit = reader.convert(raw)
                except ROW_ERRORS as e:
                    sink.add(line, explain(e), raw)
                    continue
                key = reader.key(unit)
                if key is not None:
                    if key in keys:
                        flush()
                    keys.add(key)
                batch.append(unit)
                weight += reader.size(unit)
                if weight >= batch_size:
                    flush()
        except InputBroken as e:
            broken = e  # what came before the break is good: written below, then reported
        flush()
    finally:
        try:
            writer.close()
        finally:
            bar.close()
            sink.close()
    if read == 0 and broken is None:
        raise FormatError(f"{path}: no records")
    summary = IngestSummary(
        kind=kind,
        format=fmt,
        file=str(path),
        read=read,
        loaded=writer.loaded,
        rejected=sink.count,
        rejects_file=str(rejects_path) if sink.count else None,
        written=writer.written,
        seconds=round(time.monotonic() - started, 3),
        error=str(broken) if broken else None,
        first_reject=sink.first,
    )
    return _checked(summary)


ROW_ERRORS = (ValidationError, ValueError, TypeError, RecursionError)  # what makes one record a reject


def _checked(summary: IngestSummary) -> IngestSummary:
    """A file that broke mid-way, or whose every record was rejected, is a failed load (exit 1);
    the summary (what was kept) travels with the error."""
    if summary.error is None and summary.read and summary.loaded == 0 and summary.rejected == summary.read:
        summary.error = (
            f"{summary.file}: every one of {summary.read} records was rejected (first: {summary.first_reject}); "
            f"not a {summary.kind} file in the {summary.format} format? (all reasons in {summary.rejects_file})"
        )
    if summary.error:
        raise IngestFailed(summary)
    return summary


def bulk_obstacle(store: GraphStore, reader: Reader, path: Path) -> str | None:
    """Why `path` cannot be bulk-loaded into this store now (None: it can). A file that is not the
    format raises FormatError here, before anything is written."""
    if not isinstance(reader, TreesReader):
        return "only intention trees have a bulk path; other kinds load with MERGE"
    if store.bulk_loader() is None:
        return f"the {store.kind} store has no bulk loader (for Neo4j use neo4j-admin database import)"
    check = reader.records(path)
    next(check, None)  # the format checks of the first record
    getattr(check, "close", lambda: None)()  # a generator: release its file now
    if is_json_array(path):
        return "the file is one JSON array; the bulk path reads JSON Lines"
    if not store.is_empty():
        return f"graph {store.settings.graph_name!r} is not empty (the bulk path only fills an empty graph)"
    return None  # checked again under the write lock when the bulk load starts (GraphNotEmpty)


def _bulk_file(
    store: GraphStore,
    kind: str,
    fmt: str,
    path: Path,
    rejects_path: Path,
    batch_size: int,
    progress: bool,
    echo: Callable[[str], None] | None,
    workers: int | None,
    started: float,
) -> IngestSummary:
    from .bulk_trees import bulk_ingest_trees

    sink = RejectSink(rejects_path, path, echo)
    bar = tqdm(desc=f"{kind} {path.name} (bulk)", unit=" trees", disable=not progress, leave=False)
    try:
        out = bulk_ingest_trees(store, path, sink, workers=workers, batch_size=batch_size, on_records=bar.update)
    finally:
        bar.close()
        sink.close()
    if out.read == 0 and out.broken is None:
        raise FormatError(f"{path}: no records")
    return IngestSummary(
        kind=kind,
        format=fmt,
        file=str(path),
        read=out.read,
        loaded=out.loaded,
        rejected=sink.count,
        rejects_file=str(rejects_path) if sink.count else None,
        written=out.written,
        seconds=round(time.monotonic() - started, 3),
        mode="bulk",
        error=out.broken,
        first_reject=sink.first,
    )
