"""Bulk path for intention trees: a paper-scale forest into an empty embedded graph.

The MERGE path costs the server's single write thread ~40 µs per intention node, so a 2M-node
forest takes minutes. Into an empty graph nothing needs merging: GRAPH.BULK creates nodes and edges
without Cypher. Worker processes parse, validate (the same `TreesReader.convert`) and encode the
intention nodes, which are most of the bytes; the main process numbers nodes, deduplicates
products, attributes and sessions over the whole file, and sends one GRAPH.BULK command per chunk.

The rows reach the engine's loader as plain dicts: its `encode_rows` (run in the workers) and its
`send` know its wire format; this module knows none.

Same graph as the MERGE path, by construction: the nodes and edges come from the same
`TreeUnit.walk()`, products and attributes keep their first appearance in the file (as the MERGE
path's per-run `written` set does), and a session seen twice is merged afterwards by the MERGE path
itself. The graph is built under a scratch key and swapped in at the end (`BulkLoad`), so a crash
leaves the target graph empty and a re-run starts over.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..errors import StoreError
from ..io.rejects import RejectSink, explain
from ..io.sources import BadLine, InputBroken, jsonl_lines, parse_json_line
from ..kb.models import TREE_INTENTION_PROPS
from ..kb.store import BulkLoader, EdgeBatch, GraphStore, NodeBatch, WriteStats
from .trees import TreesReader, TreeUnit, plan_trees

CHUNK_BYTES = 16 << 20  # lines per worker task and per GRAPH.BULK command (~40k intention nodes);
# fewer, bigger commands cost the server less (4 MiB chunks: 20 % slower at paper scale)


@dataclass
class Chunk:
    """What a worker makes of a run of lines (picklable, compact: per-node data in int32 arrays)."""

    rejects: list[tuple[int, str, Any]] = field(default_factory=list)  # (line, reason, record)
    lines: list[int] = field(default_factory=list)  # line of each good record
    sessions: list[dict[str, Any]] = field(default_factory=list)  # SessionUnit.row() per record
    products: list[list[dict[str, Any]]] = field(default_factory=list)  # ProductUnit.row()s per record
    attributes: list[dict[str, str]] = field(default_factory=list)  # nodes name these by index
    first_ids: list[str] = field(default_factory=list)  # id of each record's first intention node
    nodes: array = field(default_factory=lambda: array("i"))  # intention nodes per record
    props: array = field(default_factory=lambda: array("i"))  # properties those nodes set, per record
    encoded: list[Any] = field(default_factory=list)  # intention nodes per record, as the loader's encode_rows made them
    parent: array = field(default_factory=lambda: array("i"))  # per node: record-local parent, -1 for roots
    step: array = field(default_factory=lambda: array("i"))  # per node: step t; the node is AT products[t-1]
    attr: array = field(default_factory=lambda: array("i"))  # per node: index into `attributes`, -1 none


def convert_lines(lines: list[tuple[int, str]], encode_rows: Callable[[Any, Any], Any]) -> Chunk:
    """Parse, validate and encode (with the engine's `encode_rows`); runs in a worker process."""
    reader = TreesReader()
    c = Chunk()
    attr_index: dict[str, int] = {}
    for lineno, text in lines:
        try:
            unit = reader.convert_line(text)
            if isinstance(unit, BadLine):
                c.rejects.append((lineno, unit.reason, str(unit)))
                continue
            parts, parents, steps, attrs, n_props = [], [], [], [], 0
            first_id = ""
            for parent, step, props, a in unit.walk():
                first_id = first_id or props["id"]
                parts.append(props)  # what it lacks of TREE_INTENTION_PROPS is set to nothing
                parents.append(parent)
                steps.append(step)
                n_props += len(props)
                if a is None:
                    attrs.append(-1)
                else:
                    idx = attr_index.get(a["id"])
                    if idx is None:
                        idx = attr_index[a["id"]] = len(c.attributes)
                        c.attributes.append(a)
                    attrs.append(idx)
            session_row = unit.session_unit().row()  # validated here too: a reject, never a crash later
            product_rows = [pu.row() for pu in unit.product_units()]
        except (ValidationError, ValueError, TypeError, RecursionError) as e:
            c.rejects.append((lineno, explain(e), parse_json_line(text)))
            continue
        c.lines.append(lineno)
        c.sessions.append(session_row)
        c.products.append(product_rows)
        c.first_ids.append(first_id)
        c.nodes.append(len(parts))
        c.props.append(n_props)
        c.encoded.append(encode_rows(TREE_INTENTION_PROPS, parts))
        c.parent.extend(parents)
        c.step.extend(steps)
        c.attr.extend(attrs)
    return c


def _chunks(lines: Iterable[tuple[int, str]], chunk_bytes: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    size = 0
    for item in lines:
        chunk.append(item)
        size += len(item[1])
        if size >= chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _converted(chunks: Iterator[list[tuple[int, str]]], workers: int, encode_rows: Callable[[Any, Any], Any]) -> Iterator[tuple[list[tuple[int, str]], Chunk]]:
    """Chunks in file order; with workers, at most 2 per worker in flight (bounded memory)."""
    if workers <= 0:
        for lines in chunks:
            yield lines, convert_lines(lines, encode_rows)
        return
    # fork, not spawn: spawn re-runs the caller's main module in every worker, which breaks any
    # script that calls intentkb without an `if __name__ == "__main__"` guard. The workers touch
    # neither the inherited redis connection nor any lock of another thread.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for lines in chunks:
            pending.append((lines, pool.apply_async(convert_lines, (lines, encode_rows))))
            if len(pending) >= 2 * workers:
                lines0, res = pending.popleft()
                yield lines0, res.get()
        while pending:
            lines0, res = pending.popleft()
            yield lines0, res.get()


class _Forest:
    """Node numbers of what this load created, and the sessions seen (as hashes: a collision only
    sends a session down the MERGE path, which is always correct)."""

    def __init__(self, bulk: BulkLoader) -> None:
        self.bulk = bulk
        self.products: dict[str, int] = {}
        self.attributes: dict[str, int] = {}
        self.sessions: set[int] = set()
        self.props = 0
        self.samples: dict[int, str] = {}

    def send(self, c: Chunk) -> list[int]:
        """Write a chunk's new records; returns the indexes of records seen before (left to MERGE)."""
        keep = np.zeros(len(c.lines), dtype=bool)
        for r, s in enumerate(c.sessions):
            h = hash(s["id"])
            if h not in self.sessions:
                self.sessions.add(h)
                keep[r] = True
        kept = np.flatnonzero(keep)
        new_p: dict[str, dict[str, Any]] = {}
        for r in kept.tolist():
            for row in c.products[r]:
                if row["id"] not in self.products:
                    new_p.setdefault(row["id"], row)
        new_a: dict[str, dict[str, str]] = {}
        for a in itertools.chain((a for row in new_p.values() for a in row["attributes"]), c.attributes):
            if a["id"] not in self.attributes:
                new_a.setdefault(a["id"], a)

        base = self.bulk.next_id
        self.products.update((pid, base + i) for i, pid in enumerate(new_p))
        self.attributes.update((aid, base + len(new_p) + j) for j, aid in enumerate(new_a))
        s_base = base + len(new_p) + len(new_a)
        i_base = s_base + len(kept)

        batches: list[NodeBatch] = []
        sessions = [{"id": c.sessions[r]["id"], **c.sessions[r]["props"]} for r in kept]
        for label, rows in (
            ("Product", [{"id": row["id"], **row["props"]} for row in new_p.values()]),
            ("Attribute", list(new_a.values())),
            ("Session", sessions),
        ):
            if rows:
                keys = tuple(dict.fromkeys(k for r in rows for k in r))
                batches.append(NodeBatch(label, keys, [self.bulk.encode_rows(keys, rows)], len(rows)))
        nodes = np.frombuffer(c.nodes, dtype=np.int32) if len(c.nodes) else np.zeros(0, np.int32)
        n_int = int(nodes[kept].sum())
        if n_int:
            batches.append(NodeBatch("Intention", TREE_INTENTION_PROPS, [c.encoded[r] for r in kept.tolist()], n_int))
        self.props += sum(len(row) for row in itertools.chain(({"id": 1, **row["props"]} for row in new_p.values()), new_a.values(), sessions))
        self.props += int(np.frombuffer(c.props, dtype=np.int32)[kept].sum()) if len(kept) else 0

        edges: list[EdgeBatch] = []

        def add(rel: str, src: Any, dst: Any, long_prop: tuple[str, Any] | None = None) -> None:
            if len(src):
                edges.append(EdgeBatch(rel, src, dst, long_prop))

        ha = [(self.products[row["id"]], self.attributes[a["id"]]) for row in new_p.values() for a in row["attributes"]]
        add("HAS_ATTRIBUTE", [s for s, _ in ha], [d for _, d in ha])
        viewed = [(s_base + k, self.products[it["product"]], it["pos"]) for k, r in enumerate(kept) for it in c.sessions[r]["items"]]
        add("VIEWED", [v[0] for v in viewed], [v[1] for v in viewed], ("pos", [v[2] for v in viewed]))
        self.props += len(viewed)

        if n_int:
            rec_of_node = np.repeat(np.arange(len(nodes)), nodes)
            mask = keep[rec_of_node]
            rec = rec_of_node[mask]
            parent = np.frombuffer(c.parent, dtype=np.int32)[mask].astype(np.int64)
            step = np.frombuffer(c.step, dtype=np.int32)[mask].astype(np.int64)
            attr = np.frombuffer(c.attr, dtype=np.int32)[mask]
            kept_nodes = np.where(keep, nodes, 0)
            rec_base = i_base + np.concatenate(([0], np.cumsum(kept_nodes)[:-1]))  # first node of each record
            session_gid = np.full(len(nodes), -1, dtype=np.int64)
            session_gid[kept] = s_base + np.arange(len(kept))
            gid = i_base + np.arange(n_int, dtype=np.int64)
            root = parent < 0
            add("ROOT", session_gid[rec[root]], gid[root])
            add("BRANCH", rec_base[rec[~root]] + parent[~root], gid[~root])
            offsets = np.zeros(len(nodes), dtype=np.int64)  # each record's products in a flat array
            flat: list[int] = []
            for r in kept.tolist():
                offsets[r] = len(flat)
                flat.extend(self.products[row["id"]] for row in c.products[r])
            add("AT", gid, np.asarray(flat, dtype=np.int64)[offsets[rec] + step - 1])
            has = attr >= 0
            attr_gid = np.asarray([self.attributes[a["id"]] for a in c.attributes], dtype=np.int64)
            add("VALUES", gid[has], attr_gid[attr[has]] if has.any() else [])
            first = int(kept[-1])
            self.samples[int(rec_base[first])] = c.first_ids[first]
        if new_p:
            self.samples.setdefault(base, next(iter(new_p)))
        self.bulk.send(batches, edges)
        return [int(r) for r in np.flatnonzero(~keep)]


@dataclass
class BulkOutcome:
    read: int
    loaded: int
    written: WriteStats
    broken: str | None = None  # the file broke there; what came before it was loaded


def default_workers(path: Path, chunk_bytes: int) -> int:
    """No worker processes for small files (starting them costs more than they save)."""
    try:
        small = path.stat().st_size < 4 * chunk_bytes
    except OSError:
        small = True
    return 0 if small else max(1, min(os.cpu_count() or 1, 4))


def bulk_ingest_trees(
    store: GraphStore,
    path: Path,
    sink: RejectSink,
    *,
    workers: int | None = None,
    chunk_bytes: int | None = None,
    batch_size: int = 5000,
    on_records: Callable[[int], None] | None = None,
) -> BulkOutcome:
    """Load a tree file into the store's empty graph with GRAPH.BULK (see the module docstring)."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    workers = default_workers(path, chunk_bytes) if workers is None else workers
    reader = TreesReader()
    read = loaded = 0
    again: list[tuple[int, str]] = []  # sessions already written by this load: merged afterwards
    broken: InputBroken | None = None
    source = _until_broken(jsonl_lines(path))
    loader = store.bulk_loader()
    if loader is None:
        raise StoreError(f"the {store.kind} store has no bulk loader")
    with loader as bulk:
        forest = _Forest(bulk)
        for lines, chunk in _converted(_chunks(source, chunk_bytes), workers, bulk.encode_rows):
            read += len(chunk.lines) + len(chunk.rejects)
            for lineno, reason, raw in chunk.rejects:
                sink.add(lineno, reason, raw)
            repeated = forest.send(chunk)
            if repeated:
                wanted = {chunk.lines[r] for r in repeated}
                again.extend(item for item in lines if item[0] in wanted)
            loaded += len(chunk.lines) - len(repeated)
            if on_records:
                on_records(len(chunk.lines) + len(chunk.rejects) - len(repeated))
        broken = source.broken
        bulk.check(forest.samples)
        bulk.commit()
        written = bulk.stats.model_copy()
        written.properties_set = forest.props
    if again:
        done = set(forest.products) | set(forest.attributes)
        units: list[TreeUnit] = []
        for i, (_, text) in enumerate(again):
            units.append(reader.convert(parse_json_line(text)))
            if sum(u.nodes for u in units) >= batch_size or i == len(again) - 1:
                for prepared in plan_trees(store, units, done):
                    written += store.execute(prepared)
                loaded += len(units)
                if on_records:
                    on_records(len(units))
                units = []
    return BulkOutcome(read=read, loaded=loaded, written=written, broken=str(broken) if broken else None)


class _until_broken:
    """The lines of a file up to where it breaks; the break is kept for the summary, so what came
    before it is still loaded and swapped in."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self.lines = lines
        self.broken: InputBroken | None = None

    def __iter__(self) -> Iterator[tuple[int, str]]:
        try:
            yield from self.lines
        except InputBroken as e:
            self.broken = e
