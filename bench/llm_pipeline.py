"""LLM pipeline overhead against a zero-latency local OpenAI-compatible server (issue 4).

    python bench/llm_pipeline.py                  # ~40k model calls, ~5 min on 2 cores
    python bench/llm_pipeline.py --sessions 20 --pairs 2000 --products 200   # a quick look

The scripted server (intentkb.testing.scripted_server) runs in its own process and answers at once,
so every second measured is intentkb's: prompt rendering, HTTP, parsing, cache, graph writes.
Three passes over the same knowledge base, each into a fresh graph:

1. live: empty cache, every call goes to the server → model calls/s end to end, per pipeline;
2. cached: the same runs again with the cache of pass 1 → cache hits/s end to end (graph writes
   included), and the cache layer alone (hits/s of `LLMClient.complete`, no graph);
3. faults: 30 % of requests fail (429 with Retry-After, 500, timeouts, bad JSON, unusable and
   cut-off replies) → every item is written or rejected with a reason: items = written + rejected.

Data: the 1,000 real Amazon products of shared/data (sessions of 5 of them assembled with a fixed
seed) and the real MIND co-buy pairs (FolkScope annotation files).
Targets: ≥ 300 model calls/s end to end; ≥ 5,000 cache hits/s; items = written + rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pydantic import SecretStr

from intentkb.config import Settings
from intentkb.generate.run import RunRecord, run_generation
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.llm.cache import ResponseCache
from intentkb.llm.client import LLMClient
from intentkb.llm.settings import LLMSettings
from intentkb.prompts.templates import Prompts
from intentkb.testing import free_port

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"


class Server:
    """The scripted server in a process of its own (its own core)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intentkb.testing.scripted_server", "--port", str(self.port), *args], stdout=subprocess.PIPE, text=True
        )
        self.proc.stdout.readline()  # "scripted OpenAI-compatible server on …"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def build_inputs(out: Path, shared: Path, sessions: int, seed: int = 7) -> tuple[Path, list[Path]]:
    """Sessions of 5 real products (Amazon-M2 layout, no locale) and the MIND co-buy files."""
    products = shared / "amazon_products" / "test_sample_1000.csv"
    with open(products, newline="", encoding="utf-8") as fh:
        asins = []
        for row in csv.DictReader(fh):
            url = row.get("Product Url") or row.get("product_url") or ""
            asin = url.rstrip("/").split("/")[-1] if "/dp/" in url else None
            if asin:
                asins.append(asin)
    rng = random.Random(seed)
    path = out / "sessions.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prev_items", "next_item", "locale"])
        for _ in range(sessions):
            items = rng.sample(asins, 6)
            w.writerow(["[" + " ".join(f"'{a}'" for a in items[:5]) + "]", items[5], ""])
    return path, sorted((shared / "mind_cobuy_folkscope").glob("*.csv"))


def load_kb(settings: Settings, shared: Path, sessions_csv: Path, mind_files: list[Path], rejects: Path) -> dict[str, int]:
    with open_store(settings) as store:
        ingest_file(store, "products", shared / "amazon_products" / "test_sample_1000.csv", rejects_path=rejects / "p.jsonl")
        s = ingest_file(store, "sessions", sessions_csv, rejects_path=rejects / "s.jsonl")
        for f in mind_files:
            ingest_file(store, "cobuy", f, rejects_path=rejects / f"{f.stem}.jsonl")
        counts = store.counts()["nodes"]
    return {"sessions": s.loaded, **{k: v for k, v in counts.items() if v}}


def run_all(settings: Settings, llm: LLMSettings, a: argparse.Namespace) -> list[tuple[str, RunRecord]]:
    """The four pipelines, as a user runs them in order."""
    out = []
    for name, opts in (
        ("attributes", {"progress": False}),
        ("trees", {"progress": False, "limit": a.sessions}),
        ("mind", {"progress": False, "limit": a.pairs, "stages": ["intentions", "filter"]}),
        ("scripts", {"progress": False, "limit": a.products, "per_source": 2, "intentions_per_product": 5}),
    ):
        out.append((name, run_generation(name, settings, llm, opts)))
    return out


def cache_layer_hits(llm: LLMSettings, n: int) -> float:
    """Cache hits/s of `LLMClient.complete` alone: render, key, lookup, parse."""
    client = LLMClient(llm, ResponseCache(llm.cache_path), Prompts())
    products = [
        {
            "text": f"Product {i} (color: red | size: {i})",
            "title": f"Product {i}",
            "details": "",
            "features": "",
            "category": None,
            "images": [],
            "has_images": False,
        }
        for i in range(n)
    ]

    async def go() -> float:
        for p in products:  # fill
            await client.complete("sib_attributes", {"product": p})
        t = time.perf_counter()
        for p in products:
            await client.complete("sib_attributes", {"product": p})
        secs = time.perf_counter() - t
        await client.aclose()
        return secs

    secs = asyncio.run(go())
    client.cache.close()
    return n / secs


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(title: str, runs: list[tuple[str, RunRecord]]) -> None:
    print(f"\n== {title}")
    calls = hits = 0
    secs = 0.0
    for name, r in runs:
        t = r.total
        calls += t.calls
        hits += t.cache_hits
        secs += r.seconds
        for s in r.stages:
            print(f"  {s.line()}")
        rate = (t.calls or t.cache_hits) / r.seconds if r.seconds else 0
        print(
            f"  {name}: {t.calls:,} calls, {t.cache_hits:,} cache hits, {t.retries:,} retries, {t.corrections:,} corrections "
            f"in {r.seconds:.1f}s → {rate:,.0f} {'calls' if t.calls else 'hits'}/s"
        )
    print(f"  all: {calls:,} calls + {hits:,} cache hits in {secs:.1f}s → {(calls or hits) / secs:,.0f} {'calls' if calls else 'hits'}/s end to end")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100, help="sessions of 5 products (157 calls each)")
    ap.add_argument("--pairs", type=int, default=10_000, help="co-buy (pair, relation) intentions, each then filtered")
    ap.add_argument("--products", type=int, default=500, help="products for scripts (3 calls) and purchase intentions (1 call)")
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight (the default setting)")
    ap.add_argument("--fault-scale", type=float, default=0.25, help="share of the workload run with faults")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "llm")
    a = ap.parse_args()

    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    sessions_csv, mind_files = build_inputs(a.out, a.shared, a.sessions)
    kb = a.out / "kb"
    server = EmbeddedServer(kb)
    server.start()
    srv = Server()
    try:
        base = Settings(data_dir=kb, graph_uri="embedded")
        llm = LLMSettings(
            api_key=SecretStr("sk-bench"),
            base_url=srv.url,
            model="gpt-4o-mini",
            concurrency=a.concurrency,
            timeout=30.0,
            max_retries=8,
            backoff_base=0.05,
            backoff_max=1.0,
            temperature=0.0,
            seed=None,
            multimodal="off",
            prompts_dir=None,
            price=None,
            cache_path=a.out / "cache.sqlite",
        )

        live = base.model_copy(update={"graph_name": "live"})
        print("knowledge base:", json.dumps(load_kb(live, a.shared, sessions_csv, mind_files, a.out / "rejects")))
        report("1. live calls, empty cache, zero-latency server", run_all(live, llm, a))

        cached = base.model_copy(update={"graph_name": "cached"})
        load_kb(cached, a.shared, sessions_csv, mind_files, a.out / "rejects")
        report("2. the same work from the cache, into a fresh graph", run_all(cached, llm, a))
        n = 20_000
        print(
            f"  cache layer alone (LLMClient.complete, no graph): {cache_layer_hits(llm.model_copy(update={'cache_path': a.out / 'layer.sqlite'}), n):,.0f} hits/s over {n:,} prompts"
        )
        srv.stop()

        srv = Server("--faults", "0.3", "--slow", "1.0", "--retry-after", "0")
        faulty = base.model_copy(update={"graph_name": "faults"})
        load_kb(faulty, a.shared, sessions_csv, mind_files, a.out / "rejects")
        fl = llm.model_copy(update={"base_url": srv.url, "timeout": 0.5, "max_retries": 3, "cache_path": a.out / "cache-faults.sqlite"})
        small = argparse.Namespace(
            sessions=max(1, int(a.sessions * a.fault_scale)), pairs=max(1, int(a.pairs * a.fault_scale)), products=max(1, int(a.products * a.fault_scale))
        )
        runs = run_all(faulty, fl, small)
        report("3. 30 % faults (429, 500, timeouts, bad JSON, unusable, cut off)", runs)
        reasons: Counter[str] = Counter()
        ok = True
        for _, r in runs:
            for s in r.stages:
                ok &= s.items == s.written + s.rejected
                if s.rejects_file:
                    lines = [json.loads(x) for x in Path(s.rejects_file).read_text().splitlines()]
                    ok &= len(lines) == s.rejected and all(x["reason"] for x in lines)
                    reasons.update(x["reason"].split(":")[0][:60] for x in lines)
        print(f"  items = written + rejected in every stage, each reject with its reason: {ok}")
        for reason, k in reasons.most_common():
            print(f"    {k:6} {reason}")
        print(f"\npeak RSS of this process: {peak_mib():,.0f} MiB")
    finally:
        srv.stop()
        server.stop()


if __name__ == "__main__":
    main()
