"""Neo4j's own vector index beside FAISS, on the shared-data knowledge base in a throwaway Neo4j 5.

    python bench/graph_vectors.py [--queries 500] [--rounds 3]

Starts the Neo4j 5.26 of `tests/neo4j/local` (or uses NEO4J_URI, which it empties), loads the shared
data (1,000 catalogue products, the MIND co-buy records, 2,000 CoScript scripts), builds the
intention and product indexes both ways with the same embeddings (FAISS beside the data;
`INTENTKB_VECTOR_BACKEND=graph` in Neo4j), then with real CoScript step texts as queries:
- recall@10 of the graph's intention index against exact search (FAISS flat), same vectors;
- `Retriever.retrieve` (k = 5, hybrid) wall time per query on each backend, warm, the two measured
  in alternating rounds, and how often their top 5 agree.
Prints the figures and exits non-zero when a check fails (recall below 0.90, an empty answer).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))
from intentkb.config import Settings
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.embeddings import open_embedder
from intentkb.retrieval.graph_vectors import GraphVectorIndex
from intentkb.retrieval.index import load_intentions_index
from intentkb.retrieval.retrieve import Retriever

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
LOCAL = ROOT / "tests" / "neo4j" / "local"


def steps(n: int) -> list[str]:
    out: list[str] = []
    with open(SHARED / "coscript" / "dev_data.jsonl", encoding="utf-8") as fh:
        for line in fh:
            for s in json.loads(line).get("Script") or []:
                t = s.split(". ", 1)[-1]
                if t not in out:
                    out.append(t)
            if len(out) >= n:
                break
    return out[:n]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ikb-gv-"))
    uri, neo_dir = os.environ.get("NEO4J_URI"), None
    if not uri:
        neo_dir = Path(tempfile.mkdtemp(prefix="ikbneo-"))
        uri = subprocess.run([str(LOCAL), "start", str(neo_dir)], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    failed: list[str] = []
    try:
        faiss_s = Settings(data_dir=home, graph_uri=uri)
        graph_s = faiss_s.model_copy(update={"vector_backend": "graph"})
        with open_store(faiss_s) as store:
            store.drop()
            store.setup_schema()
            t = time.perf_counter()
            for kind, path in [
                ("products", SHARED / "amazon_products" / "test_sample_1000.csv"),
                *[("cobuy", p) for p in sorted((SHARED / "mind_cobuy_folkscope").glob("*.csv"))],
                ("scripts", SHARED / "coscript" / "dev_data.jsonl"),
            ]:
                s = ingest_file(store, kind, path, rejects_path=home / "rejects.jsonl")
                print(s.line(), flush=True)
            print(f"loaded in {time.perf_counter() - t:.1f}s: {store.counts()}", flush=True)
            embedder = open_embedder(faiss_s)
            for settings in (faiss_s, graph_s):
                for r in build_indexes(store, settings, ["intentions", "products"], embedder=embedder):
                    print(r.line(), flush=True)
            texts = steps(args.queries)
            vectors = embedder.encode(texts)
            exact = load_intentions_index(faiss_s).search(vectors, 10)
            graph = GraphVectorIndex.load(store, graph_s, "intentions").search(vectors, 10)
            recall = float(np.mean([len({g for g, _ in a} & {g for g, _ in b}) / 10 for a, b in zip(exact, graph)]))
            print(f"recall@10 of Neo4j's vector index against exact search, {len(texts)} step queries: {recall:.4f}")
            if recall < 0.90:
                failed.append(f"recall@10 {recall:.4f} < 0.90")
            times: dict[str, list[float]] = {"faiss": [], "neo4j": []}
            answers: dict[str, list[list[str]]] = {}
            with Retriever(store, faiss_s, embedder=embedder) as rf, Retriever(store, graph_s, embedder=embedder) as rg:
                for r in (rf, rg):
                    r.retrieve("warm up", 5)
                for _ in range(args.rounds):
                    for name, r in (("faiss", rf), ("neo4j", rg)):
                        got = []
                        for q in texts:
                            t = time.perf_counter()
                            hits = r.retrieve(q, 5)
                            times[name].append((time.perf_counter() - t) * 1000)
                            got.append([h.product for h in hits])
                        answers[name] = got
            empty = sum(1 for name in answers for a in answers[name] if not a)
            if empty:
                failed.append(f"{empty} empty answers")
            agree = statistics.fmean(len(set(a) & set(b)) / 5 for a, b in zip(answers["faiss"], answers["neo4j"]))
            print(f"retrieve, k = 5, hybrid, {len(texts)} queries × {args.rounds} alternating rounds, warm (embeddings cached):")
            print("| backend | p50 ms | p99 ms |\n|---|---|---|")
            for name, ms in times.items():
                print(f"| {name} | {statistics.median(ms):.2f} | {pct(ms, 99):.2f} |")
            print(f"top-5 agreement between the two: {agree:.3f}")
            store.drop()
    finally:
        if neo_dir is not None:
            subprocess.run([str(LOCAL), "stop", str(neo_dir)], capture_output=True)
    if failed:
        print("FAILED: " + "; ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
