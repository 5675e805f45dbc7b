"""Paper-scale intention forest: load rate, peak RSS, re-run idempotency, trajectory enumeration
and server restart time on the embedded store.

    python bench/load_forest.py              # 10,905 sessions, ≈1.95M intention nodes
    python bench/load_forest.py --scale 0.1  # a tenth, for a quick look

Targets (issue 2, 2-core machine): ≥ 50,000 intention nodes/s with their edges, full forest ≤ 90 s,
peak RSS of the loading process ≤ 2 GB; all trajectories enumerated, streamed, in ≤ 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from intentkb.config import Settings
from intentkb.ingest.synthetic import PAPER_LENGTHS, forest_totals, synthetic_forest
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.falkordb.settings import FalkorSettings
from intentkb.kb.queries import iter_trajectories


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of that one process, stdout."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {err.strip()[-2000:]}")
    # ru_maxrss of all waited children: each child here is waited alone, so take the high-water mark.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's 10,905 sessions")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument(
        "--mode", choices=["auto", "bulk", "merge"], default="auto", help="the first load: auto = bulk (the graph is empty); the re-run is always MERGE"
    )
    args = ap.parse_args()

    lengths = {k: max(1, round(v * args.scale)) for k, v in PAPER_LENGTHS.items()}
    totals = forest_totals(lengths)
    args.out.mkdir(parents=True, exist_ok=True)
    forest = args.out / f"forest-{args.scale:g}.jsonl"
    t = time.perf_counter()
    with open(forest, "w") as fh:
        for rec in synthetic_forest(lengths):
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    print(
        f"generated {totals['sessions']:,} sessions, {totals['intentions']:,} intentions, "
        f"{totals['trajectories']:,} trajectories → {forest} ({forest.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f}s"
    )

    data_dir = Path("/tmp") / f"intentkb-bench-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "INTENTKB_HOME": str(data_dir), "INTENTKB_GRAPH_URI": "embedded"}
    settings = Settings(data_dir=data_dir, graph_uri="embedded")
    server = EmbeddedServer(data_dir, FalkorSettings.of(settings).args)
    server.start()  # started outside the timed load, as a user's server would already be
    cli = [
        sys.executable,
        "-m",
        "intentkb.cli.main",
        "ingest",
        "trees",
        str(forest),
        "--format",
        "json",
        "--batch-size",
        str(args.batch_size),
        "--mode",
        args.mode,
    ]
    results: dict[str, object] = {"totals": totals}
    try:
        wall, rss, out = run_child(cli, env)
        summary = json.loads(out)[0]
        rate = totals["intentions"] / wall
        results["load"] = {
            "mode": summary["mode"],
            "seconds": round(wall, 1),
            "intention_nodes_per_s": round(rate),
            "peak_rss_mib": round(rss),
            "nodes_created": summary["written"]["nodes_created"],
            "edges_created": summary["written"]["relationships_created"],
        }
        print(
            f"load ({summary['mode']}):   {wall:.1f}s  {rate:,.0f} intention nodes/s  peak RSS {rss:.0f} MiB  "
            f"({summary['written']['nodes_created']:,} nodes, {summary['written']['relationships_created']:,} edges created)"
        )

        with open_store(settings) as store:
            counts1 = store.counts()
        wall2, _, out2 = run_child(cli[:-1] + ["auto"], env)  # the graph holds the forest now: MERGE
        with open_store(settings) as store:
            counts2 = store.counts()
        s2 = json.loads(out2)[0]["written"]
        same = counts1 == counts2 and s2["nodes_created"] == 0 and s2["relationships_created"] == 0
        results["rerun"] = {"seconds": round(wall2, 1), "counts_unchanged": same, "created": [s2["nodes_created"], s2["relationships_created"]]}
        print(f"re-run: {wall2:.1f}s  counts unchanged: {same}  created {s2['nodes_created']} nodes, {s2['relationships_created']} edges")
        print("counts: " + json.dumps(counts1))

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        with open_store(settings) as store:
            n = sum(1 for _ in iter_trajectories(store, page=200))
        tw = time.perf_counter() - t
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["trajectories"] = {"count": n, "expected": totals["trajectories"], "seconds": round(tw, 1), "per_s": round(n / tw), "peak_rss_mib": round(rss1)}
        print(f"trajectories: {n:,} (expected {totals['trajectories']:,}) in {tw:.1f}s, {n / tw:,.0f}/s, client peak RSS {rss1:.0f} MiB (was {rss0:.0f})")

        st = server.status()
        while server.status().aof_rewrite_in_progress:
            time.sleep(0.5)
        aof = sum(f.stat().st_size for f in (server.dir / "appendonlydir").iterdir()) / 2**20
        t = time.perf_counter()
        server.stop()
        stop_s = time.perf_counter() - t
        t = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - t
        pid = int(server.pidfile.read_text())
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        t = time.perf_counter()
        server.start()
        crash_s = time.perf_counter() - t
        with open_store(settings) as store:
            counts3 = store.counts()
        results["restart"] = {
            "server_memory": st.used_memory_human,
            "aof_mib": round(aof),
            "stop_s": round(stop_s, 2),
            "clean_restart_s": round(start_s, 2),
            "restart_after_kill9_s": round(crash_s, 2),
            "counts_after_kill9_unchanged": counts3 == counts1,
        }
        print(
            f"restart: server memory {st.used_memory_human}, AOF {aof:.0f} MiB; stop {stop_s:.2f}s, clean restart {start_s:.2f}s, "
            f"restart after kill -9 {crash_s:.2f}s, counts unchanged: {counts3 == counts1}"
        )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
