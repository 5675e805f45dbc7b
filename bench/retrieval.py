"""Retrieval at scale: 1M purchase intentions, 100k script steps, 5,000 IntentionQA questions.

    python bench/retrieval.py                      # full scale (first run embeds 1.1M texts: ~70 min on 2 cores)
    python bench/retrieval.py --intentions 50000 --steps 5000 --questions 500   # a quick look

The corpora are built from real public text (bench/retrieval_data.py). The knowledge base and its
embedding cache live in bench/out/retrieval/ and are reused: a second run embeds nothing and
measures the index, alignment and retrieval work alone. Every figure comes from the CLI (as a user
runs it, in a child process whose own peak RSS is sampled) or from the Python API with the
index already loaded (retrieve latency).

Targets (issue 3, 2-core machine): retrieve p50 ≤ 50 ms over 1M intentions; IVF recall@10 ≥ 0.95
against exact search; align 100k steps against 1M intentions ≤ 10 min with peak RSS ≤ 6 GB;
5,000 MCQ questions ≤ 60 s (measured with float32, the default, and with bfloat16 autocast).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import retrieval_data as data

from intentkb.config import Settings
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer
from intentkb.retrieval.build import iter_texts
from intentkb.retrieval.embeddings import Embedder, embedding_text, open_embedder, text_hash
from intentkb.retrieval.index import VectorIndex, index_dir
from intentkb.retrieval.retrieve import Retriever

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"


def _hwm_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of exactly this child, its stdout.

    The peak is the child's own VmHWM, read every 20 ms until it exits: `ru_maxrss` of a child
    forked from this (large) process starts at the parent's RSS, so it would report ours."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _hwm_mib(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read()[-3000:]}")
        return wall, peak, out.read()


def write_jsonl(path: Path, rows) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def server_memory(data_dir: Path) -> str | None:
    return EmbeddedServer(data_dir).status().used_memory_human


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--intentions", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--questions", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=1000, help="retrieve calls timed")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared data directory")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "retrieval")
    ap.add_argument("--setup-only", action="store_true", help="build the knowledge base (no embedding) and stop")
    args = ap.parse_args()

    kb = args.out / "kb"
    graph = f"bench{args.intentions}"
    env = {**os.environ, "INTENTKB_HOME": str(kb), "INTENTKB_GRAPH_URI": "embedded", "INTENTKB_GRAPH": graph}
    settings = Settings(data_dir=kb, graph_uri="embedded", graph_name=graph)
    cli = [sys.executable, "-m", "intentkb.cli.main"]
    results: dict[str, object] = {"intentions": args.intentions, "steps": args.steps, "questions": args.questions}
    args.out.mkdir(parents=True, exist_ok=True)

    # -- the knowledge base: real catalogue, 1M purchase intentions, 100k script steps ----------
    with open_store(settings) as store:
        have = store.counts()["nodes"]
    if have["Intention"] != args.intentions or have["Step"] != args.steps:
        t = time.perf_counter()
        intentions = args.out / f"purchase-{args.intentions}.jsonl"
        scripts = args.out / f"scripts-{args.steps}.jsonl"
        write_jsonl(intentions, data.purchase_intentions(args.shared, args.intentions))
        write_jsonl(scripts, data.scripts(args.shared, args.steps))
        print(f"corpora written in {time.perf_counter() - t:.1f}s")
        for kind, f in [("products", args.shared / "amazon_products" / "test_sample_1000.csv"), ("intentions", intentions), ("scripts", scripts)]:
            wall, rss, out = run([*cli, "ingest", kind, str(f), "--format", "json"], env)
            s = json.loads(out)[0]
            print(f"ingest {kind}: read {s['read']:,} = loaded {s['loaded']:,} + rejected {s['rejected']:,} in {wall:.1f}s")
            results[f"ingest_{kind}_s"] = round(wall, 1)
    with open_store(settings) as store:
        counts = store.counts()
    print("graph: " + json.dumps(counts["nodes"]))
    if args.setup_only:
        return

    # -- index build (from scratch; texts already embedded come from the cache) ----------------
    wall, rss, out = run([*cli, "index", "build", "--rebuild", "--format", "json"], env)
    reports = {r["name"]: r for r in json.loads(out)}
    for r in reports.values():
        print(
            f"index {r['name']}: {r['kind']} of {r['count']:,} vectors, {r['encoded']:,} embedded now; read {r['read_seconds']}s, "
            f"embed/cache {r['embed_seconds']}s, FAISS {r['index_seconds']}s"
            + (f", nlist {r['nlist']}, nprobe {r['nprobe']}, recall@10 {r['recall_at_10']} (build sample)" if r["kind"] == "ivf" else "")
        )
    print(f"index build: {wall:.1f}s wall, peak RSS {rss:,.0f} MiB, server {server_memory(kb)}")
    results["index_build"] = {"seconds": round(wall, 1), "peak_rss_mib": round(rss), "reports": reports}
    size = sum(f.stat().st_size for f in index_dir(settings, "intentions").iterdir()) / 2**20
    results["index_size_mib"] = round(size)

    # -- recall@10 against exact search, on step texts as queries (not the indexed vectors) ----
    with open_store(settings) as store:
        texts = dict(iter_texts(store, "intentions"))
    embedder = open_embedder(settings)
    ids = list(texts)
    cached = embedder.cache.get(embedder.key, [text_hash(texts[g]) for g in ids], None) if embedder.cache else {}
    if all(text_hash(texts[g]) in cached for g in ids):  # two products may share a title: texts repeat
        index = VectorIndex.load(index_dir(settings, "intentions"))
        matrix = np.stack([cached[text_hash(texts[g])] for g in ids])
        del cached
        rng = np.random.default_rng(3)
        step_texts = [s for sc in data.scripts(args.shared, args.steps) for s in sc["Script"]]
        queries = embedder.encode([step_texts[i] for i in rng.choice(len(step_texts), size=min(1000, len(step_texts)), replace=False)])
        _, exact = faiss.knn(queries, matrix, 10, metric=faiss.METRIC_INNER_PRODUCT)
        exact_ids = [[ids[j] for j in row] for row in exact]
        got = index.search(queries, 10)
        recall = float(np.mean([len(set(e) & {g for g, _ in h}) / 10 for e, h in zip(exact_ids, got)]))
        print(f"recall@10 of the {index.meta.kind} index against exact search, 1,000 step queries: {recall:.4f}")
        results["recall_at_10"] = round(recall, 4)
        del matrix, index

    # -- retrieve latency: index loaded, each query embedded by the model (no cache) ------------
    with open_store(settings) as store:
        r = Retriever(store, settings, embedder=Embedder(settings.embedding_model, precision=settings.embedding_precision))
        rng2 = np.random.default_rng(4)
        goals = [g for g in (x.get("Specific Goal") for x in data.coscript(args.shared)) if g]
        queries_txt = [f"what do I need to {goals[i].lower()} on a budget" for i in rng2.choice(len(goals), size=args.queries + 20)]
        for q in queries_txt[:20]:
            r.retrieve(q, 10)  # warm-up
        lat, parts = [], []
        for q in queries_txt[20:]:
            t = time.perf_counter()
            hits = r.retrieve(q, 10)
            lat.append((time.perf_counter() - t) * 1000)
            assert hits, q
        # where the time goes, on 200 of the queries
        for q in queries_txt[20:220]:
            t0 = time.perf_counter()
            v = r.embedder.encode([embedding_text(q)])
            t1 = time.perf_counter()
            h = r.index.search(v, 50)
            t2 = time.perf_counter()
            store.run("intention_products", {"hits": [{"id": g, "score": s} for g, s in h[0]]})
            t3 = time.perf_counter()
            parts.append(((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000))
    p = np.percentile(lat, [50, 90, 99])
    enc, srch, gq = (float(np.median([x[i] for x in parts])) for i in range(3))
    print(
        f"retrieve -k 10 over {len(ids):,} intentions, {args.queries} new queries: p50 {p[0]:.1f} ms, p90 {p[1]:.1f} ms, p99 {p[2]:.1f} ms "
        f"(median parts: encode {enc:.1f} ms, FAISS {srch:.2f} ms, graph {gq:.1f} ms)"
    )
    results["retrieve_ms"] = {
        "p50": round(p[0], 1),
        "p90": round(p[1], 1),
        "p99": round(p[2], 1),
        "encode": round(enc, 1),
        "faiss": round(srch, 2),
        "graph": round(gq, 1),
    }

    # -- alignment of every step ----------------------------------------------------------------
    wall, rss, out = run([*cli, "align", "steps", "--threshold", "0.45", "--top-k", "10", "--format", "json"], env)
    a = json.loads(out)
    print(
        f"align steps: {a['steps']:,} steps, {a['aligned_steps']:,} aligned, {a['edges']:,} ALIGNED edges "
        f"({a['edges_created']:,} new, {a['edges_deleted']:,} dropped, {a['encoded']:,} embedded) in {wall:.1f}s wall, peak RSS {rss:,.0f} MiB"
    )
    results["align"] = {"seconds": round(wall, 1), "peak_rss_mib": round(rss), **a}
    wall2, _rss2, out2 = run([*cli, "align", "steps", "--format", "json"], env)
    a2 = json.loads(out2)
    print(
        f"align again: {wall2:.1f}s, {a2['edges_created']} new, {a2['edges_deleted']} dropped (idempotent: {a2['edges'] == a['edges'] and not a2['edges_created'] and not a2['edges_deleted']})"
    )
    results["align_rerun"] = {"seconds": round(wall2, 1), "created": a2["edges_created"], "deleted": a2["edges_deleted"]}

    # -- incremental update: 1,000 new intentions ----------------------------------------------
    extra = args.out / "extra.jsonl"
    write_jsonl(extra, ({"product": "B07KMVJJK7", "intention": f"The customer bought it for longboard trip number {i} along the coast."} for i in range(1000)))
    run([*cli, "ingest", "intentions", str(extra)], env)
    wall, rss, out = run([*cli, "index", "build", "--only", "intentions", "--format", "json"], env)
    u = json.loads(out)[0]
    print(f"incremental index build: +{u['added']:,} new, {u['encoded']:,} embedded, rebuilt: {u['rebuilt']}, {wall:.1f}s wall, peak RSS {rss:,.0f} MiB")
    results["incremental"] = {"seconds": round(wall, 1), "added": u["added"], "encoded": u["encoded"], "rebuilt": u["rebuilt"], "peak_rss_mib": round(rss)}
    with open_store(settings) as store:
        store.run("MATCH (i:Intention) WHERE i.text STARTS WITH 'The customer bought it for longboard trip number' DETACH DELETE i", write=True)
    run([*cli, "index", "build", "--only", "intentions"], env)

    # -- MCQ: cold embedding cache, then warm -------------------------------------------------
    qfile = args.out / f"intentionqa-{args.questions}.jsonl"
    write_jsonl(qfile, data.intentionqa_questions(args.shared, args.questions))
    for precision in ("float32", "bfloat16", "auto"):  # auto, the default: bfloat16 where the CPU has it natively
        cold = Path(tempfile.mkdtemp(prefix="ikb-mcq-"))  # an empty embedding cache
        env_mcq = {k: v for k, v in env.items() if k != "INTENTKB_EMBEDDING_PRECISION"} | {"INTENTKB_HOME": str(cold)}
        for label in ("cold", "warm"):
            wall, rss, out = run(
                [*cli, "eval", "mcq", str(qfile), "--input-format", "intentionqa", "--scorer", "embedding", "--precision", precision, "--format", "json"],
                env_mcq,
            )
            m = json.loads(out)
            print(
                f"eval mcq ({precision}, {label} cache): {m['scored']:,} questions, {m['texts']:,} distinct texts, {m['encoded']:,} embedded, "
                f"accuracy {m['overall']['accuracy']} [{m['overall']['ci95_low']}, {m['overall']['ci95_high']}], {wall:.1f}s wall "
                f"(process start and model load included), peak RSS {rss:,.0f} MiB"
            )
            results[f"mcq_{precision}_{label}"] = {
                "seconds": round(wall, 1),
                "texts": m["texts"],
                "encoded": m["encoded"],
                "accuracy": m["overall"]["accuracy"],
                "by_task": {k: v["accuracy"] for k, v in m["by_task"].items()},
                "peak_rss_mib": round(rss),
            }
        shutil.rmtree(cold, ignore_errors=True)
    print(json.dumps(results))
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
