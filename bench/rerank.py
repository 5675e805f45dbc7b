"""The reranker and the critic on the shared data: held-out figures, and `eval mcq` speed cold.

    INTENTKB_HOME=KB python bench/rerank.py --reranker NAME [--embedder NAME] [--critic NAME] [--questions 4630] [--runs 3]

KB is the shared-data knowledge base (1,000 catalogue products, the 4,000 MIND records, 2,000
CoScript scripts). Printed:
- the development figures each model's training measured on its product-disjoint held-out pairs
  (IntentionQA-style T1/T2 from the project's builder), read from the models' `intentkb-model.json`:
  base embedder, fine-tuned embedder, reranker; the critic's accuracy, ROC AUC and filter calls saved;
- `intentkb eval mcq FILE --scorer rerank` as a whole process, `--runs` times (median wall time),
  on `--questions` IntentionQA-format questions from the MIND records (`bench/retrieval_data.py`:
  the form of IntentionQA's own files, distractors at random) — nothing is cached between runs,
  so every run is cold; beside it the default embedding scorer on the same file, warm cache.
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

sys.path.insert(0, str(Path(__file__).parent.parent))
from retrieval_data import intentionqa_questions  # type: ignore[import-not-found]  # bench/ is not a package

SHARED = Path(__file__).parent.parent.parent / "shared" / "data"


def marker(home: Path, name: str) -> dict:
    return json.loads((home / "models" / name / "intentkb-model.json").read_text())


def timed(cmd: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reranker", required=True)
    ap.add_argument("--embedder", help="the fine-tuned embedder's NAME, for its held-out figures")
    ap.add_argument("--critic")
    ap.add_argument("--questions", type=int, default=4630)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    home = Path(os.environ["INTENTKB_HOME"])

    rr = marker(home, args.reranker)
    print(f"held-out development set (product-disjoint, {rr['held_out_pairs']} pairs, {rr['held_out_products']} products):")
    rows = [("base embedder", rr["embedder"])]
    if args.embedder:
        em = marker(home, args.embedder)
        rows += [("fine-tuned embedder", em["after"])]
    rows += [("reranker", rr["reranker"])]
    for label, acc in rows:
        print(f"  {label:<22} " + "  ".join(f"{t} {a['accuracy']:.4f} ({a['correct']}/{a['total']})" for t, a in acc.items()))
    print(f"  reranker training: {rr['examples']:,} pairs, {rr['train_seconds']:.0f} s training, {rr['seconds']:.0f} s in all")
    if args.critic:
        cr = marker(home, args.critic)
        print(f"critic: accuracy {cr['accuracy']:.4f} (majority {cr['majority']:.4f}), ROC AUC {cr['roc_auc']}, {cr['held_out']} held-out intentions")
        for b in cr["bands"]:
            print(f"  threshold {b['threshold']}: decides {b['calls_saved']:.1%} of filter calls alone, agreeing with the filter on {b['agreement']}")

    with tempfile.TemporaryDirectory() as d:
        qa = Path(d) / "qa.jsonl"
        qa.write_text("".join(json.dumps(q) + "\n" for q in intentionqa_questions(SHARED, args.questions)))
        base = ["intentkb", "eval", "mcq", str(qa), "--format", "json"]
        took, reports = [], []
        for _ in range(args.runs):
            t, rep = timed([*base, "--scorer", "rerank", "--reranker", args.reranker])
            took.append(t)
            reports.append(rep)
        t_emb, emb = timed(base)
        r = reports[-1]
        acc = lambda rep: "  ".join(f"{k} {v['accuracy']:.4f}" for k, v in rep["by_task"].items())  # noqa: E731
        print(f"eval mcq, {r['scored']:,} questions ({r['pairs_read']:,} question-option pairs), whole process, {args.runs} runs:")
        print(f"  rerank scorer, cold: median {statistics.median(took):.1f} s (runs {', '.join(f'{x:.1f}' for x in took)}); {acc(r)}")
        print(f"  embedding scorer, warm cache: {t_emb:.1f} s; {acc(emb)}")


if __name__ == "__main__":
    main()
