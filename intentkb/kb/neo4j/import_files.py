"""`intentkb export neo4j-import DIR`: the graph as the CSV files `neo4j-admin database import full`
reads, for a first load of a large knowledge base into Neo4j.

The embedded store builds a paper-scale forest with GRAPH.BULK in seconds, while MERGE into Neo4j
runs at about 10k intentions/s. So a large first load goes: build it embedded, export it here,
import it offline with Neo4j's own tool, start Neo4j, then `intentkb init` adds the uniqueness
constraints. Each label is its own ID space (ids are unique per label, as the MERGE keys are).
Strings may hold newlines (`--multiline-fields=true`), and list properties use the unit separator
as array delimiter.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ...errors import IntentKBError
from ...private import private_dir, private_open
from ..models import EDGE_SCHEMA, Label
from ..store import GraphStore

ARRAY_DELIMITER = "\x1f"
PAGE = 5000


class ImportFiles(BaseModel):
    directory: str
    nodes: dict[str, int]  # label -> nodes written
    relationships: dict[str, int]  # TYPE(Src->Dst) -> edges written
    command: list[str]  # the neo4j-admin arguments, after `neo4j-admin`
    seconds: float

    def line(self) -> str:
        n, r = sum(self.nodes.values()), sum(self.relationships.values())
        return f"{self.directory}: {n:,} nodes, {r:,} relationships in {len(self.nodes) + len(self.relationships)} files ({self.seconds:.1f}s)"


def _type(values: set[str]) -> str:
    if not values:
        return "string"
    if values <= {"boolean"}:
        return "boolean"
    if values <= {"long"}:
        return "long"
    if values <= {"long", "double"}:
        return "double"
    if values <= {"string[]"}:
        return "string[]"
    return "string"


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, list):
        return "string[]"
    return "string"


def _cell(v: Any, typ: str) -> str:
    if v is None:
        return ""
    if typ == "string[]":
        return ARRAY_DELIMITER.join(str(x) for x in v)
    if typ == "boolean":
        return "true" if v else "false"
    if typ == "string" and not isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _id_ranges(store: GraphStore, label: str) -> Iterator[tuple[int, int]]:
    """Windows of internal node ids: each page is an id-range seek, never a sort of what is left
    (keyset paging on `n.id` sorted the rest of the label every page: quadratic at paper scale)."""
    top = store.run(f"MATCH (n:{label}) RETURN max(id(n)) AS m")[0]["m"]
    if top is None:
        return
    for lo in range(0, int(top) + 1, PAGE):
        yield lo, lo + PAGE


def _node_pages(store: GraphStore, label: str) -> Iterator[list[dict[str, Any]]]:
    for lo, hi in _id_ranges(store, label):
        rows = store.run(f"MATCH (n:{label}) WHERE id(n) >= $lo AND id(n) < $hi RETURN n.id AS id, properties(n) AS p", {"lo": lo, "hi": hi})
        if rows:
            yield rows


def _edge_pages(store: GraphStore, rel: str, src: str, dst: str) -> Iterator[list[dict[str, Any]]]:
    for lo, hi in _id_ranges(store, src):
        rows = store.run(
            f"MATCH (a:{src})-[e:{rel}]->(b:{dst}) WHERE id(a) >= $lo AND id(a) < $hi RETURN a.id AS a, b.id AS b, properties(e) AS p", {"lo": lo, "hi": hi}
        )
        if rows:
            yield rows


def export_neo4j_import(store: GraphStore, directory: Path | str, *, database: str = "neo4j") -> ImportFiles:
    """Write one nodes file per label and one relationships file per edge type and end labels."""
    started = time.monotonic()
    out = private_dir(Path(directory))
    if any(out.glob("*.csv")):
        raise IntentKBError(f"{out} already holds CSV files; give an empty directory")
    nodes: dict[str, int] = {}
    rels: dict[str, int] = {}
    args = [
        "database",
        "import",
        "full",
        database,
        "--multiline-fields=true",
        f"--array-delimiter={ARRAY_DELIMITER}",
        f"--report-file={out / 'import.report'}",  # beside the files, not in the caller's directory
        "--ignore-empty-strings=true",
        "--skip-duplicate-nodes=false",
        "--bad-tolerance=0",
    ]
    for label in (lab.value for lab in Label):
        kinds: dict[str, set[str]] = {}
        for page in _node_pages(store, label):  # first pass: the type of every property
            for r in page:
                for k, v in r["p"].items():
                    if k != "id" and v is not None:
                        kinds.setdefault(k, set()).add(_kind(v))
        keys = sorted(kinds)
        types = {k: _type(kinds[k]) for k in keys}
        path = out / f"nodes-{label}.csv"
        count = 0
        with private_open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([f"id:ID({label})"] + [f"{k}:{types[k]}" for k in keys])
            for page in _node_pages(store, label):
                for r in page:
                    w.writerow([r["id"]] + [_cell(r["p"].get(k), types[k]) for k in keys])
                    count += 1
        if count:
            nodes[label] = count
            args.append(f"--nodes={label}={path}")
        else:
            path.unlink()
    for rel, (src, dst, props) in EDGE_SCHEMA.items():
        keys = sorted(props)
        kinds = {k: set() for k in keys}
        for page in _edge_pages(store, rel.value, src.value, dst.value):
            for r in page:
                for k in keys:
                    if r["p"].get(k) is not None:
                        kinds[k].add(_kind(r["p"][k]))
        types = {k: _type(kinds[k]) for k in keys}
        path = out / f"rels-{rel.value}-{src.value}-{dst.value}.csv"
        count = 0
        with private_open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([f":START_ID({src.value})", f":END_ID({dst.value})"] + [f"{k}:{types[k]}" for k in keys])
            for page in _edge_pages(store, rel.value, src.value, dst.value):
                for r in page:
                    w.writerow([r["a"], r["b"]] + [_cell(r["p"].get(k), types[k]) for k in keys])
                    count += 1
        if count:
            rels[f"{rel.value}({src.value}->{dst.value})"] = count
            args.append(f"--relationships={rel.value}={path}")
        else:
            path.unlink()
    # an argument file for `neo4j-admin @FILE` (picocli reads one quoted argument a line)
    (out / "neo4j-admin.args").write_text("".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"\n' for a in args), encoding="utf-8")
    return ImportFiles(directory=str(out), nodes=nodes, relationships=rels, command=args, seconds=round(time.monotonic() - started, 3))
