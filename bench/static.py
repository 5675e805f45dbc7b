"""The static tier beside ONNX int8 on `eval mcq`: 5,000 IntentionQA-format questions, cold.

    INTENTKB_HOME=KB python bench/static.py --static shop-static [--runs 3]

Writes the 5,000 IntentionQA-format questions of `bench/retrieval_data.py` (cut from the shared
MIND/FolkScope records; 11k distinct texts) and runs `intentkb eval mcq` on them as whole processes,
each in a fresh data directory (an empty embedding cache: every text is encoded), alternating:
- `static`: INTENTKB_EMBEDDING_MODEL=the static model (`train static -o NAME` in KB's models);
- `onnx int8`: the bundled MiniLM on ONNX Runtime int8 (`--precision int8`), the fastest mode of
  the transformer on this machine;
wall seconds median [min–max], and each one's accuracy. Then the held-out development figures the
static model's own training printed (teacher, distilled, fine-tuned: `intentkb-model.json`).
Exits non-zero when a run fails or the two score a different number of questions.
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

sys.path.insert(0, str(Path(__file__).parent))
import retrieval_data as data

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--static", required=True, help="NAME in $INTENTKB_HOME/models (train static -o NAME) or a path")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--questions", type=int, default=5000)
    args = ap.parse_args()
    home = Path(os.environ.get("INTENTKB_HOME", "~/.intentkb")).expanduser()
    model = Path(args.static).expanduser() if Path(args.static).expanduser().is_dir() else home / "models" / args.static
    work = Path(tempfile.mkdtemp(prefix="ikb-static-"))
    qfile = work / f"intentionqa-{args.questions}.jsonl"
    with open(qfile, "w", encoding="utf-8") as fh:
        for q in data.intentionqa_questions(SHARED, args.questions):
            fh.write(json.dumps(q) + "\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTENTKB_") or k == "INTENTKB_ONNX_DIR"}
    configs = {
        "static": ({"INTENTKB_EMBEDDING_MODEL": str(model.resolve())}, []),
        "onnx int8": ({"INTENTKB_EMBEDDING_BACKEND": "onnx"}, ["--precision", "int8"]),
    }
    walls: dict[str, list[float]] = {name: [] for name in configs}
    reports: dict[str, dict] = {}
    for i in range(args.runs + 1):  # the first round warms the page cache and the ONNX export; not counted
        for name, (env, extra) in configs.items():
            cold = work / f"home-{name.replace(' ', '-')}-{i}"
            cmd = ["intentkb", "eval", "mcq", str(qfile), "--input-format", "intentionqa", "--scorer", "embedding", "--format", "json", *extra]
            t = time.perf_counter()
            p = subprocess.run(cmd, env={**base, **env, "INTENTKB_HOME": str(cold)}, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if p.returncode:
                raise SystemExit(f"{name}: {p.stderr[-1500:]}")
            reports[name] = json.loads(p.stdout)
            if i:
                walls[name].append(wall)
    print(f"`intentkb eval mcq`, {args.questions:,} IntentionQA-format questions, cold embedding cache, {args.runs} runs each, alternating:")
    print("| encoder | wall s, median [min–max] | accuracy | T1 | T2 |\n|---|---|---|---|---|")
    for name, w in walls.items():
        r = reports[name]
        by = r.get("by_task", {})
        t1, t2 = (by.get(k, {}).get("accuracy") for k in ("task1", "task2"))
        acc = r["overall"]["accuracy"]
        print(
            f"| {name} | {statistics.median(w):.1f} [{min(w):.1f}–{max(w):.1f}] | {acc:.4f} | {t1 if t1 is None else f'{t1:.4f}'} | {t2 if t2 is None else f'{t2:.4f}'} |"
        )
    ratio = [b / a for a, b in zip(walls["static"], walls["onnx int8"])]
    print(f"onnx int8 ÷ static wall time, pair by pair: {statistics.median(ratio):.1f}×")
    marker = json.loads((model / "intentkb-model.json").read_text())
    print(f"\nheld-out development questions of `train static` ({marker['held_out_pairs']} product pairs, product-disjoint), teacher {marker['teacher']}:")
    print("| task | teacher | distilled | fine-tuned |\n|---|---|---|---|")
    for task, t in marker["teacher_scores"].items():
        d = marker["distilled_scores"][task]
        f = (marker.get("tuned_scores") or {}).get(task)
        print(f"| {task} | {t['accuracy']:.4f} | {d['accuracy']:.4f} | {f['accuracy'] if f is None else format(f['accuracy'], '.4f')} |")
    if len({r["scored"] for r in reports.values()}) != 1:
        print("FAILED: the encoders scored different numbers of questions")
        sys.exit(1)


if __name__ == "__main__":
    main()
