"""Neo4j beside the embedded store, in one run, on the same input: MERGE load of the synthetic
forest, trajectory streaming and SessionIntentBench task export; and the first-load path for
Neo4j (bulk into the embedded store, `export neo4j-import`, Neo4j's import tool).

    python bench/neo4j_scale.py                    # 0.1 scale (1,091 sessions, ≈195k intention nodes)
    python bench/neo4j_scale.py --scale 0.02 --batch-sizes 1000,5000,20000

Neo4j is the throwaway Neo4j 5.26 of `tests/neo4j/local` (or NEO4J_URI, which it empties). Each
figure is one run per engine and batch size, in the same process, one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from intentkb.config import Settings
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.ingest import ingest_file
from intentkb.ingest.synthetic import PAPER_LENGTHS, forest_totals, synthetic_forest
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.queries import iter_trajectories
from intentkb.kb.store import GraphStore

LOCAL = Path(__file__).resolve().parent.parent / "tests" / "neo4j" / "local"


def empty(store: GraphStore) -> None:
    if store.kind == "neo4j":
        # small chunks: a transaction may hold 70 % of the heap (dbms.memory.transaction.total.max);
        # edges first, since a product of the forest is the end of thousands of AT edges
        while store.run("MATCH ()-[r]->() WITH r LIMIT 50000 DELETE r RETURN count(*) AS n", write=True)[0]["n"]:
            pass
        while store.run("MATCH (n) WITH n LIMIT 20000 DELETE n RETURN count(*) AS n", write=True)[0]["n"]:
            pass
    else:
        store.db.connection.delete(store.graph.name)  # type: ignore[attr-defined]
        store.setup_schema()


def measure(store: GraphStore, settings: Settings, forest: Path, nodes: int, batch: int, out: Path) -> dict[str, float]:
    empty(store)
    store.setup_schema()
    t = time.perf_counter()
    s = ingest_file(store, "trees", forest, mode="merge", batch_size=batch, rejects_path=out / "r.jsonl")
    load = time.perf_counter() - t
    assert s.loaded == s.read, s.line()
    t = time.perf_counter()
    n = sum(1 for _ in iter_trajectories(store))
    walk = time.perf_counter() - t
    t = time.perf_counter()
    report = export_tasks(store, settings, ExportOptions(benchmark="sib", output=out / f"sib-{store.kind}.jsonl"))
    export = time.perf_counter() - t
    return {
        "load_s": load,
        "nodes_per_s": nodes / load,
        "trajectories": n,
        "walk_s": walk,
        "export_s": export,
        "items": sum(sum(c.values()) for c in report.by_task.values()),
    }


def first_load(forest: Path, nodes: int, work: Path) -> None:
    """Bulk into a fresh embedded graph, export the CSVs, import them with neo4j-admin."""
    from intentkb.kb.neo4j.import_files import export_neo4j_import

    settings = Settings(data_dir=work / "kb", graph_uri="embedded", graph_name=f"f{uuid.uuid4().hex[:8]}")
    with open_store(settings) as store:
        t = time.perf_counter()
        ingest_file(store, "trees", forest, mode="bulk", rejects_path=work / "r.jsonl")
        bulk = time.perf_counter() - t
        t = time.perf_counter()
        report = export_neo4j_import(store, work / "csv")
        export = time.perf_counter() - t
        store.db.connection.delete(store.graph.name)  # type: ignore[attr-defined]
    t = time.perf_counter()
    subprocess.run([str(LOCAL), "import", str(work / "imported"), str(work / "csv" / "neo4j-admin.args")], check=True, capture_output=True)
    imported = time.perf_counter() - t
    total = bulk + export + imported
    print(
        f"| first load into Neo4j: bulk {bulk:.1f} s + export {export:.1f} s + neo4j-admin import {imported:.1f} s "
        f"(a JVM start included) = {total:.1f} s | {nodes / total:,.0f} | {sum(report.nodes.values()):,} nodes, "
        f"{sum(report.relationships.values()):,} relationships | |",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--batch-sizes", default="5000", help="comma-separated intention nodes per write batch")
    ap.add_argument("--no-first-load", action="store_true", help="skip the bulk + export + neo4j-admin import path")
    args = ap.parse_args()
    lengths = {k: max(1, round(v * args.scale)) for k, v in PAPER_LENGTHS.items()}
    totals = forest_totals(lengths)
    work = Path(tempfile.mkdtemp(prefix="ikbn-", dir="/tmp"))
    forest = work / "forest.jsonl"
    with open(forest, "w") as fh:
        for rec in synthetic_forest(lengths):
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    print(f"forest: {totals['sessions']:,} sessions, {totals['intentions']:,} intentions, {totals['trajectories']:,} trajectories")
    uri = os.environ.get("NEO4J_URI")
    started = not uri
    if started:
        uri = subprocess.run([str(LOCAL), "start", str(work / "neo4j")], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    try:
        engines = {
            "embedded": Settings(data_dir=work / "kb", graph_uri="embedded", graph_name=f"b{uuid.uuid4().hex[:8]}"),
            "neo4j": Settings(data_dir=work / "kb-neo4j", graph_uri=uri),
        }
        print("| engine | batch | MERGE load | intentions/s | trajectories streamed | SIB export (end) |")
        print("|---|---|---|---|---|---|")
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            for name, settings in engines.items():
                with open_store(settings) as store:
                    m = measure(store, settings, forest, totals["intentions"], batch, work)
                    print(
                        f"| {name} | {batch:,} | {m['load_s']:.1f} s | {m['nodes_per_s']:,.0f} | {m['trajectories']:,} in {m['walk_s']:.1f} s "
                        f"| {m['items']:,} items in {m['export_s']:.1f} s |",
                        flush=True,
                    )
                    empty(store)
        if not args.no_first_load:
            first_load(forest, totals["intentions"], work)
    finally:
        EmbeddedServer(work / "kb").stop()
        if started:
            subprocess.run([str(LOCAL), "stop", str(work / "neo4j")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
