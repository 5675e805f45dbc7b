"""`intentkb report quality` on a knowledge base: the figures bench/RESULTS.md quotes, and its wall time.

    INTENTKB_HOME=KB python bench/quality.py [--runs 3]

Runs `intentkb report quality --format json --html FILE` as a whole process `--runs` times (median
wall time) and prints the overall shares, the worst and cleanest relations, the most generic
phrases, coverage and schema problems. Exits non-zero, naming the misses, when the report is empty,
its shares are not shares, its slices do not add up to the whole, or the page lacks its plots.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    failed: list[str] = []
    took = []
    with tempfile.TemporaryDirectory() as d:
        page = Path(d) / "quality.html"
        for _ in range(args.runs):
            t = time.perf_counter()
            out = subprocess.run(["intentkb", "report", "quality", "--format", "json", "--html", str(page)], capture_output=True, text=True, check=True)
            took.append(time.perf_counter() - t)
        r = json.loads(out.stdout)
        html = page.read_text()
    o = r["overall"]
    print(f"report quality: median {statistics.median(took):.1f} s wall over {args.runs} runs ({', '.join(f'{x:.1f}' for x in took)})")
    print(
        f"{r['intentions']:,} intentions: generic {o['generic_share']:.1%}, near-duplicates {o['near_duplicate_share']:.1%}, "
        f"distinct-1 {o['distinct_1']}, distinct-2 {o['distinct_2']}, accepted {o['accepted_share']:.1%}"
    )
    rel = sorted(r["by_relation"], key=lambda s: -s["generic_share"])
    print("most generic relations: " + ", ".join(f"{s['name']} {s['generic_share']:.1%}" for s in rel[:3]))
    print("relations with no generic intention: " + ", ".join(s["name"] for s in rel if s["generic_share"] == 0))
    print("most generic phrases (unrelated pairs):")
    for g in r["generic"][:6]:
        print(f"  {g['unrelated_pairs']:>5}  “{g['phrase']}”")
    print(
        f"coverage: {r['products_without_intention']:,} of {r['products']:,} products without an intention, "
        f"{r['steps_unaligned']:,} of {r['steps']:,} steps without an aligned intention; "
        f"schema problems: {sum(p['n'] for p in r['schema_problems'])}"
    )
    if not r["intentions"]:
        failed.append("the report has no intentions")
    shares = [s[k] for s in [o, *r["by_relation"]] for k in ("generic_share", "near_duplicate_share") if s[k] is not None]
    if not all(0 <= x <= 1 for x in shares):
        failed.append("a share outside [0, 1]")
    for key in ("by_pipeline", "by_relation", "by_source"):
        if sum(s["intentions"] for s in r[key]) != r["intentions"]:
            failed.append(f"{key} does not add up to {r['intentions']}")
    if html.count("data:image/png;base64,") < 3:
        failed.append("the page has fewer than 3 plots")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
