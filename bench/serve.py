"""`intentkb serve` under concurrent clients on loopback: latency percentiles and throughput.

    INTENTKB_HOME=KB python bench/serve.py [--clients 50] [--requests 1000] [--workers N]

Runs `intentkb serve` on the knowledge base of INTENTKB_HOME (indexes built), as its own process,
then sends POST /retrieve requests (k = 5) whose texts are real CoScript steps from the shared data:
- closed loop: every client sends its next request as soon as the last one is answered;
- open loop: requests start at a fixed total rate (`--rate`), whatever the answers' pace.
Each phase is run on texts never asked before (every one a model call) and again on the same texts
(the embedding cache answers: no model call); then script requests (every step of a CoScript
script: POST /retrieve {script}). Each client thread keeps its connection open (HTTP keep-alive,
as a client library does). Latency is the client's, from send to parsed reply.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
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


def script_ids(n: int) -> list[str]:
    """Ids of `n` scripts of the knowledge base (cycled when it has fewer)."""
    body = json.dumps({"query": "MATCH (c:Script) RETURN c.id AS id ORDER BY id LIMIT $n", "params": {"n": n}})
    ids = [r["id"] for r in _cypher(body)]
    if not ids:
        raise SystemExit("no scripts in the knowledge base")
    return [ids[i % len(ids)] for i in range(n)]


_BASE = {"url": ""}


def _cypher(body: str) -> list[dict]:
    req = urllib.request.Request(_BASE["url"] + "/cypher", body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())["rows"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


_local = threading.local()


def _post(url: str, text: str, key: str = "text") -> float:
    """One request on this thread's kept-alive connection (opened again if the server closed it)."""
    parts = urllib.parse.urlsplit(url)
    body = json.dumps({key: text, "k": 5})
    s = time.perf_counter()
    for attempt in (0, 1):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = _local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            conn.request("POST", parts.path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            break
        except (http.client.HTTPException, OSError):
            conn.close()
            _local.conn = None
            if attempt:
                raise
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}: {data[:300]!r}")
    json.loads(data)
    return time.perf_counter() - s


def closed_loop(url: str, texts: list[str], clients: int, key: str = "text") -> tuple[list[float], float]:
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
            d = _post(url, t, key)
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
    per_batch = f"{(after['retrieve_requests'] - before['retrieve_requests']) / batches:.1f}" if before["pid"] == after["pid"] == health(base)["pid"] else "-"
    ms = [x * 1000 for x in lat]
    print(f"| {name} | {len(ms)} | {len(ms) / took:.0f} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {per_batch} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=20.0, help="open loop: requests started per second")
    ap.add_argument("--workers", type=int, default=1, help="intentkb serve --workers N")
    ap.add_argument("--scripts", type=int, default=300, help="script requests in the script phase (0: none)")
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ}
    cmd = ["intentkb", "serve", "--port", str(port), "--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = _BASE["url"] = f"http://127.0.0.1:{port}"
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
        print(f"{args.clients} clients, {len(fresh)} distinct real step texts; open loop at {args.rate:g} requests/s; {args.workers} server process(es)")
        print("| phase | requests | requests/s | p50 ms | p95 ms | p99 ms | requests per batch |\n|---|---|---|---|---|---|---|")
        url = base + "/retrieve"
        report("closed loop, new texts (model call each)", base, lambda: closed_loop(url, fresh, args.clients))
        report("closed loop, the same texts again (cached vectors)", base, lambda: closed_loop(url, fresh, args.clients))
        report(f"open loop {args.rate:g}/s, new texts", base, lambda: open_loop(url, open_texts, args.rate, args.clients))
        report(f"open loop {args.rate:g}/s, the same texts again", base, lambda: open_loop(url, open_texts, args.rate, args.clients))
        if args.scripts:
            scripts = script_ids(args.scripts)
            report("closed loop, script requests (all steps of a script)", base, lambda: closed_loop(url, scripts, args.clients, "script"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
