"""Figures of the hardening (issue "nothing lost, nothing crashes"): what the console limits cost
and protect, and how fast the readers are with the one byte-level decoding path.

    python bench/hostile.py            # medians of 5 runs (10 for latencies)
    python bench/hostile.py --rows 200000

Prints: time to refuse a 60,000-deep query; `RETURN 1` latency alone, beside one and beside two
long queries; reader throughput (records/s, read + validate, no store) for CSV, gzip CSV, parquet
and JSON Lines, clean and with 1 % damaged lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from intentkb.config import Settings
from intentkb.errors import StoreError
from intentkb.ingest.run import FORMATS
from intentkb.io.sources import BadLine
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.kb.guard import QueryRefused

LONG = "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*)"


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"


def console(settings: Settings, runs: int) -> None:
    with open_store(settings) as st:
        for label, depth in (("60,000-deep (too long)", 60_000), ("49,000-deep (within the length limit)", 49_000), ("13-deep", 13)):
            deep = "RETURN " + "(" * depth + "1" + ")" * depth
            refuse = []
            for _ in range(runs):
                t = time.perf_counter()
                try:
                    st.run(deep)
                except QueryRefused:
                    pass
                refuse.append(time.perf_counter() - t)
            print(f"refuse a {label} query: {median_ms(refuse)}; server alive after: {st.run('RETURN 1 AS x') == [{'x': 1}]}")
        for n_long in (0, 1, 2):
            stop = threading.Event()

            def hog(stop: threading.Event = stop) -> None:
                with open_store(settings) as s2:
                    while not stop.is_set():
                        try:
                            s2.run(LONG, timeout=3)
                        except StoreError:
                            pass

            hogs = [threading.Thread(target=hog) for _ in range(n_long)]
            for h in hogs:
                h.start()
            time.sleep(0.5)
            lat = []
            for _ in range(2 * runs):
                t = time.perf_counter()
                st.run("RETURN 1 AS one")
                lat.append(time.perf_counter() - t)
                time.sleep(0.1)
            stop.set()
            for h in hogs:
                h.join()
            print(f"RETURN 1 beside {n_long} long quer{'y' if n_long == 1 else 'ies'}: {median_ms(lat)}")


def reader_files(d: Path, rows: int) -> dict[str, tuple[str, str, Path]]:
    sess = [[f"s-{i}", f"['Z{i:07d}0' 'Z{i:07d}1' 'Z{i:07d}2']", f"Z{i:07d}9", "UK"] for i in range(rows)]
    clean = "session_id,prev_items,next_item,locale\n" + "".join(f'{a},"{b}",{c},{e}\n' for a, b, c, e in sess)
    damaged_lines = clean.splitlines(keepends=True)
    for i in range(1, len(damaged_lines), 100):  # 1 % of the rows: an unbalanced quote
        damaged_lines[i] = damaged_lines[i].replace(",", ',"', 1)
    (d / "sessions.csv").write_text(clean)
    (d / "sessions_damaged.csv").write_text("".join(damaged_lines))
    (d / "sessions.csv.gz").write_bytes(gzip.compress(clean.encode()))
    pq.write_table(
        pa.Table.from_pylist(
            [{"session_id": a, "prev_items": [f"Z{i:07d}0", f"Z{i:07d}1", f"Z{i:07d}2"], "next_item": c, "locale": e} for i, (a, _, c, e) in enumerate(sess)]
        ),
        d / "sessions.parquet",
    )
    script = {
        "id": 0,
        "Abstract Goal": "Buy a tent",
        "Specific Goal": "Buy a tent for two",
        "Constraint": "for two",
        "Script": "1. Decide the size. 2. Compare prices. 3. Order it.",
        "Category": "Sports",
    }
    (d / "scripts.jsonl").write_text("".join(json.dumps({**script, "id": i, "Abstract Goal": f"Buy tent {i}"}) + "\n" for i in range(rows)))
    return {
        "sessions CSV": ("sessions", "m2", d / "sessions.csv"),
        "sessions CSV, 1 % unbalanced quotes": ("sessions", "m2", d / "sessions_damaged.csv"),
        "sessions CSV.gz": ("sessions", "m2", d / "sessions.csv.gz"),
        "sessions parquet": ("sessions", "m2", d / "sessions.parquet"),
        "scripts JSONL": ("scripts", "coscript", d / "scripts.jsonl"),
    }


def readers(rows: int, runs: int) -> None:
    d = Path(tempfile.mkdtemp(prefix="ikbr-"))
    try:
        for label, (kind, fmt, path) in reader_files(d, rows).items():
            times, counts = [], (0, 0)
            for _ in range(runs):
                reader = FORMATS[kind][fmt]()
                t = time.perf_counter()
                good = bad = 0
                for _, raw in reader.records(path):
                    if isinstance(raw, BadLine):
                        bad += 1
                        continue
                    try:
                        reader.convert(raw)
                        good += 1
                    except ValueError:
                        bad += 1
                times.append(time.perf_counter() - t)
                counts = (good, bad)
            rate = counts[0] + counts[1]
            print(f"{label}: {rate / statistics.median(times):,.0f} records/s (median of {runs}; {counts[0]:,} good, {counts[1]:,} rejected)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ikbb-", dir="/tmp"))
    try:
        console(Settings(data_dir=home, graph_name=f"b{uuid.uuid4().hex[:8]}"), args.runs)
    finally:
        EmbeddedServer(home).stop()
        shutil.rmtree(home, ignore_errors=True)
    readers(args.rows, args.runs)


if __name__ == "__main__":
    main()
