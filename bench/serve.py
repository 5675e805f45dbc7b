"""`intentkb serve` under concurrent clients on loopback: latency percentiles and throughput.

    INTENTKB_HOME=KB python bench/serve.py [--clients 50] [--requests 1000]

Runs `intentkb serve` on the knowledge base of INTENTKB_HOME (indexes built), as its own process,
then sends POST /retrieve requests (k = 5) whose texts are real CoScript steps from the shared data:
- closed loop: every client sends its next request as soon as the last one is answered;
- open loop: requests start at a fixed total rate (`--rate`), whatever the answers' pace.
Each phase is run on texts never asked before (every one a model call) and again on the same texts
(the embedding cache answers: no model call). Latency is the client's, from send to parsed reply.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from intentkb.testing import free_port

SHARED = Path(__file__).parent.parent.parent / "shared" / "data"


def step_texts(n: int, skip: int = 0) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    with open(SHARED / "coscript" / "dev_data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            for s in rec.get("steps") or rec.get("Script") or []:
                t = re.sub(r"^\d+\.\s*", "", s if isinstance(s, str) else str(s))
                if t not in seen:
                    seen.add(t)
                    out.append(t)
    return out[skip : skip + n]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _post(url: str, text: str) -> float:
    body = json.dumps({"text": text, "k": 5}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    s = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())
    return time.perf_counter() - s


def closed_loop(url: str, texts: list[str], clients: int) -> tuple[list[float], float]:
    """`clients` threads, each sending its next request when the last is answered."""
    queue = list(reversed(texts))
    lock = threading.Lock()
    lat: list[float] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                t = queue.pop()
            d = _post(url, t)
            with lock:
                lat.append(d)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return lat, time.perf_counter() - t0


def open_loop(url: str, texts: list[str], rate: float, clients: int) -> tuple[list[float], float]:
    """Requests started at `rate` per second on a pool of `clients` threads."""
    t0 = time.perf_counter()
    futures = []
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for i, t in enumerate(texts):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(_post, url, t))
        lat = [f.result() for f in futures]
    return lat, time.perf_counter() - t0


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/health", timeout=10) as r:
        return json.loads(r.read())


def report(name: str, base: str, phase) -> None:  # type: ignore[no-untyped-def]
    before = health(base)
    lat, took = phase()
    after = health(base)
    batches = max(1, after["retrieve_batches"] - before["retrieve_batches"])
    ms = [x * 1000 for x in lat]
    print(
        f"| {name} | {len(ms)} | {len(ms) / took:.0f} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} "
        f"| {(after['retrieve_requests'] - before['retrieve_requests']) / batches:.1f} |",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="open loop: requests started per second")
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ}
    proc = subprocess.Popen(["intentkb", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None:
                raise SystemExit(proc.stderr.read().decode() if proc.stderr else "serve exited")
            time.sleep(0.1)
        _post(base + "/retrieve", "warm up")
        fresh = step_texts(args.requests)
        open_texts = step_texts(min(args.requests, int(args.rate * 20)), skip=args.requests)
        print(f"{args.clients} clients, {len(fresh)} distinct real step texts; open loop at {args.rate:g} requests/s")
        print("| phase | requests | requests/s | p50 ms | p95 ms | p99 ms | requests per batch |\n|---|---|---|---|---|---|---|")
        url = base + "/retrieve"
        report("closed loop, new texts (model call each)", base, lambda: closed_loop(url, fresh, args.clients))
        report("closed loop, the same texts again (cached vectors)", base, lambda: closed_loop(url, fresh, args.clients))
        report(f"open loop {args.rate:g}/s, new texts", base, lambda: open_loop(url, open_texts, args.rate, args.clients))
        report(f"open loop {args.rate:g}/s, the same texts again", base, lambda: open_loop(url, open_texts, args.rate, args.clients))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
