"""The reranker and the critic on the shared data: held-out figures, and `eval mcq` speed cold.

    INTENTKB_HOME=KB python bench/rerank.py --reranker NAME [--embedder NAME] [--critic NAME] [--questions 4630] [--runs 3]

KB is the shared-data knowledge base (1,000 catalogue products, the 4,000 MIND records, 2,000
CoScript scripts). Printed:
- the development figures each model's training measured on its product-disjoint held-out pairs
  (IntentionQA-style T1/T2 from the project's builder), read from the models' `intentkb-model.json`:
  base embedder, fine-tuned embedder, reranker; the critic's accuracy, ROC AUC and filter calls saved;
- the same development questions written to a file and scored by `intentkb eval mcq` with the base
  embedder, the fine-tuned one, and the reranker fused with each;
- `intentkb eval mcq FILE --scorer rerank` as a whole process, `--runs` times (median wall time),
  in each reranker mode (ONNX float32, int8), on `--questions` IntentionQA-format questions from the
  MIND records (`bench/retrieval_data.py`: the form of IntentionQA's own files, distractors at
  random), each run in a fresh data directory (no embedding cache; the one-time ONNX exports and
  encoder choice shared), so every run is cold; beside it the default embedding scorer, warm cache.
Exits non-zero, naming the misses, when a file is not scored whole, the development set is empty,
the reranker's training took over 20 min or a cold run over 3 min.
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


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, dict]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, **env})
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
    rows += [("reranker alone", rr["reranker"]), (f"reranker + embedder (weight {rr['fusion_weight']:g}, cross-fitted)", rr["fused"])]
    for label, acc in rows:
        print(f"  {label:<48} " + "  ".join(f"{t} {a['accuracy']:.4f} ({a['correct']}/{a['total']})" for t, a in acc.items()))
    print("training, as each model's intentkb-model.json records it (the train command's own clock):")
    print(f"  reranker {args.reranker}: {rr['examples']:,} pairs, {rr['train_seconds']:.0f} s training, {rr['seconds']:.0f} s in all")
    check(rr["seconds"] <= 20 * 60, f"reranker training took {rr['seconds']:.0f} s, over 20 min")
    check(min(a["total"] for a in rr["reranker"].values()) > 0, "the development set is empty")
    if args.embedder:
        print(f"  embedder {args.embedder}: {em['examples']:,} links, {em['train_seconds']:.0f} s training, {em['seconds']:.0f} s in all")
    if args.critic:
        cr = marker(home, args.critic)
        print(f"  critic {args.critic}: {cr['train']:,} labelled intentions, {cr['train_seconds']:.0f} s training, {cr['seconds']:.0f} s in all")
        print(
            f"critic: accuracy {cr['accuracy']:.4f} (majority {cr['majority']:.4f}), ROC AUC {cr['roc_auc']}, {cr['held_out']} held-out intentions of {cr['held_out_products']:,} products"
        )
        for b in cr["bands"]:
            print(f"  threshold {b['threshold']}: decides {b['calls_saved']:.1%} of filter calls alone, agreeing with the filter on {b['agreement']}")

    with tempfile.TemporaryDirectory() as d:
        dev = Path(d) / "dev.jsonl"
        n_dev = write_dev(dev, rr)
        print(f"the same development set through `intentkb eval mcq` ({n_dev} questions):")
        configs = [("base embedder", {}, [])]
        if args.embedder:
            configs.append(("fine-tuned embedder", {"INTENTKB_EMBEDDING_MODEL": args.embedder}, []))
        configs.append(("reranker + base embedder", {}, ["--scorer", "rerank", "--reranker", args.reranker]))
        if args.embedder:
            configs.append(("reranker + fine-tuned", {"INTENTKB_EMBEDDING_MODEL": args.embedder}, ["--scorer", "rerank", "--reranker", args.reranker]))
        for label, env, extra in configs:
            _, rep = timed(["intentkb", "eval", "mcq", str(dev), "--format", "json", *extra], env)
            check(rep["scored"] == n_dev and rep["rejected"] == 0, f"{label}: scored {rep['scored']} of {n_dev}, rejected {rep['rejected']}")
            print(f"  {label:<26} " + "  ".join(f"{k} {v['accuracy']:.4f} ({v['correct']}/{v['total']})" for k, v in rep["by_task"].items()))

        qa = Path(d) / "qa.jsonl"
        qa.write_text("".join(json.dumps(q) + "\n" for q in intentionqa_questions(SHARED, args.questions)))
        base = ["intentkb", "eval", "mcq", str(qa), "--format", "json"]
        print(f"eval mcq on {args.questions:,} IntentionQA-format questions, whole process, {args.runs} runs each (medians):")
        model = str(home / "models" / args.reranker)
        for precision in ("float32", "int8"):
            took, reports = [], []
            for k in range(args.runs):
                cold = cold_home(Path(d) / f"cold-{precision}-{k}", home)
                t, rep = timed([*base, "--scorer", "rerank", "--reranker", model], {"INTENTKB_RERANK_PRECISION": precision, "INTENTKB_HOME": str(cold)})
                took.append(t)
                reports.append(rep)
                check(rep["scored"] == args.questions and rep["pairs_read"] > 0, f"rerank {precision}: scored {rep['scored']} of {args.questions}")
            r = reports[-1]
            check(statistics.median(took) <= 180, f"rerank {precision}: median {statistics.median(took):.1f} s, over 3 min")
            print(
                f"  rerank scorer ({precision}), cold: median {statistics.median(took):.1f} s (runs {', '.join(f'{x:.1f}' for x in took)}), "
                f"{r['pairs_read']:,} pairs; " + "  ".join(f"{k} {v['accuracy']:.4f}" for k, v in r["by_task"].items())
            )
        t_emb, emb = timed(base, {})
        print(f"  embedding scorer, warm cache: {t_emb:.1f} s; " + "  ".join(f"{k} {v['accuracy']:.4f}" for k, v in emb["by_task"].items()))
    if FAILED:
        print("FAILED:\n  " + "\n  ".join(FAILED))
        sys.exit(1)


FAILED: list[str] = []


def check(ok: bool, what: str) -> None:
    """A miss is collected, printed at the end, and makes the script exit non-zero."""
    if not ok:
        FAILED.append(what)


def cold_home(path: Path, home: Path) -> Path:
    """A data directory with no embedding cache, sharing the KB's one-time encoder export and choice."""
    (path / "models").mkdir(parents=True)
    for name in ("onnx", "encoder-choice.json"):
        if (home / "models" / name).exists():
            (path / "models" / name).symlink_to(home / "models" / name)
    return path


def write_dev(path: Path, rr: dict) -> int:
    """The held-out IntentionQA-style questions the reranker's training measured, as a file."""
    from intentkb.config import Settings
    from intentkb.kb.engines import open_store
    from intentkb.retrieval.embeddings import open_embedder
    from intentkb.training.heldout import heldout_questions
    from intentkb.training.links import split_links

    o = rr["options"]
    settings = Settings()
    with open_store(settings) as store:
        split = split_links(store, o["kinds"], o["held_out"], o["step_min_score"])
        emb = open_embedder(settings)
        try:
            qs = heldout_questions(store, settings, set(split.held_out_groups), o["max_questions"], emb, o["seed"])
        finally:
            emb.cache.close()
    lines = [q.model_dump_json() for t in qs.values() for q in t]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


if __name__ == "__main__":
    main()
