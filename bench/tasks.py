"""SessionIntentBench task export on the paper-scale synthetic forest: wall time and peak RSS.

    python bench/tasks.py              # 10,905 sessions, ≈1.13M trajectories
    python bench/tasks.py --scale 0.1  # a tenth, for a quick look

The forest of bench/load_forest.py is bulk-loaded into a fresh embedded store (not timed), then
`intentkb tasks export -b sib` runs as its own process, the way a user runs it, in both modes:
- end of trajectory (≈1.13M trajectories × 4 tasks)   target ≤ 3 min
- every step (the task pool)                           target ≤ 10 min
peak RSS of the export process ≤ 2 GB. Item counts are checked against the forest's shape.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import subprocess

from intentkb.config import Settings
from intentkb.generate.schedule import BranchingSchedule
from intentkb.ingest.synthetic import PAPER_LENGTHS, forest_totals, synthetic_forest
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.falkordb.settings import FalkorSettings


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of exactly this child (wait4), stdout."""
    t = time.perf_counter()
    with open(os.devnull, "w") as null, subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=null, text=True) as proc:
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def expected_counts(lengths: dict[int, int], mode: str) -> dict[str, int]:
    """Distinct questions the branching schedule implies (the synthetic forest has an attribute on
    every node and a comparison on every node after step 1)."""
    sched = BranchingSchedule()
    per_step: dict[int, dict[int, int]] = {}  # length -> step -> nodes
    for length in lengths:
        nodes, cur = {}, sched.roots
        for t in range(1, length + 1):
            nodes[t] = cur
            cur *= sched.children(t)
        per_step[length] = nodes
    out = {"sib-t1": 0, "sib-t2": 0, "sib-t3": 0, "sib-t4": 0}
    for length, n in lengths.items():
        nodes = per_step[length]
        if mode == "end":
            leaves = nodes[length]
            out["sib-t4"] += n * leaves
            if length >= 2:
                out["sib-t3"] += n * leaves
                out["sib-t1"] += n * nodes[length - 1]  # one question per parent of a leaf
                out["sib-t2"] += n * nodes[length - 1]
        else:
            out["sib-t4"] += n * sum(nodes.values())
            out["sib-t3"] += n * sum(v for t, v in nodes.items() if t >= 2)
            out["sib-t1"] += n * sum(v for t, v in nodes.items() if t < length)
            out["sib-t2"] += n * sum(v for t, v in nodes.items() if t < length)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's 10,905 sessions")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    ap.add_argument("--keep", action="store_true", help="keep the exported files")
    args = ap.parse_args()

    lengths = {k: max(1, round(v * args.scale)) for k, v in PAPER_LENGTHS.items()}
    totals = forest_totals(lengths)
    args.out.mkdir(parents=True, exist_ok=True)
    forest = args.out / f"forest-{args.scale:g}.jsonl"
    if not forest.exists():
        with open(forest, "w") as fh:
            for rec in synthetic_forest(lengths):
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    data_dir = Path("/tmp") / f"intentkb-bench-tasks-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "INTENTKB_HOME": str(data_dir), "INTENTKB_GRAPH_URI": "embedded"}
    settings = Settings(data_dir=data_dir, graph_uri="embedded")
    server = EmbeddedServer(data_dir, FalkorSettings.of(settings).args)
    server.start()
    results: dict[str, object] = {"totals": totals}
    try:
        t = time.perf_counter()
        run_child([sys.executable, "-m", "intentkb.cli.main", "ingest", "trees", str(forest), "--format", "json"], env)
        print(
            f"forest: {totals['sessions']:,} sessions, {totals['intentions']:,} intentions, {totals['trajectories']:,} "
            f"trajectories, loaded in {time.perf_counter() - t:.1f}s (not timed below)"
        )
        for mode, target in (("end", 180), ("every", 600)):
            path = args.out / f"sib-{mode}-{args.scale:g}.jsonl"
            cmd = [sys.executable, "-m", "intentkb.cli.main", "tasks", "export", "-b", "sib", "--mode", mode, "-o", str(path), "--json"]
            wall, rss, out = run_child(cmd, env)
            report = json.loads(out)
            counts = {t: c.get("train", 0) + c.get("test", 0) for t, c in report["by_task"].items()}
            want = expected_counts(lengths, mode)
            size = path.stat().st_size / 2**20
            test_share = {t: round(c.get("test", 0) / max(1, sum(c.values())), 4) for t, c in report["by_task"].items()}
            results[mode] = {
                "seconds": round(wall, 1),
                "peak_rss_mib": round(rss),
                "items": report["written"],
                "items_per_s": round(report["written"] / wall),
                "trajectories": report["build"]["trajectories"],
                "repeats_merged": report["build"]["repeats"],
                "by_task": counts,
                "expected": want,
                "counts_match": counts == want,
                "test_share": test_share,
                "file_mib": round(size),
            }
            print(
                f"export {mode:5}: {wall:6.1f}s (target {target}s)  {report['written']:,} items, {report['written'] / wall:,.0f}/s, "
                f"peak RSS {rss:.0f} MiB, {size:,.0f} MiB of JSONL; {report['build']['trajectories']:,} trajectories, "
                f"{report['build']['repeats']:,} repeated questions merged"
            )
            print(f"  per task {counts}; expected from the schedule: {'match' if counts == want else want}; test share {test_share}")
            if not args.keep:
                path.unlink()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(results))
    wrong = [mode for mode, r in results.items() if not r["counts_match"]]
    if wrong:  # a figure that fails its own check must not look like a result
        sys.exit(f"task counts differ from the schedule's in {', '.join(wrong)}: see 'per task' above")


if __name__ == "__main__":
    main()
