"""Encoder modes side by side on the same real texts, and thread counts under contention.

    python bench/encoder.py                 # 1,000 texts a mode, 3 rounds (about 4 minutes on 2 cores)
    python bench/encoder.py --texts 300 --rounds 1
    python bench/encoder.py --static shop-static     # and a static model of `train static` beside them

Texts: the distinct texts of IntentionQA-format questions cut from the shared MIND/FolkScope records
(bench/retrieval_data.py), what `eval mcq` embeds. Every round encodes the same texts in every mode,
one mode after the other (torch float32, today's default, first), with no cache: texts/s per mode,
the ratio to torch float32 of the same round, and the agreement (mean and least cosine) with it.
Figures are medians over the rounds. A static model (`--static`) is timed on the same texts in the
same rounds, ten passes each (one pass takes milliseconds), and compared with ONNX int8; its vectors
are its own (another space), so it has no agreement figure. Then contention: another process spins on one core while
the ONNX float32 encoder runs with 2 threads, and with the threads intentkb picks (threads.encoder_threads).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import retrieval_data as data

from intentkb.evaluation.mcq import MCQuestion, question_texts
from intentkb.retrieval.embeddings import Embedder
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.threads import encoder_threads

SHARED = Path(__file__).parent.parent.parent / "shared" / "data"
MODES = [("torch", "float32"), ("torch", "bfloat16"), ("onnx", "float32"), ("onnx", "int8")]


def _spin(stop: multiprocessing.synchronize.Event) -> None:
    while not stop.is_set():
        pass


def _rate(e: Embedder, texts: list[str], passes: int = 1) -> tuple[float, np.ndarray]:
    e.encode(texts[:8])  # loaded and warm
    e.encoded = 0
    t = time.perf_counter()
    for _ in range(passes):
        v = e.encode(texts)  # no cache: every pass encodes
    return passes * len(texts) / (time.perf_counter() - t), v


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--bf16-texts", type=int, default=200, help="bfloat16 is slow on CPUs without it: fewer texts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--onnx-dir", type=Path, default=Path(__file__).parent / "out" / "onnx")
    ap.add_argument("--static", help="a static model (NAME in $INTENTKB_HOME/models, or a path) timed beside the others")
    args = ap.parse_args()
    modes = list(MODES)
    if args.static:
        from intentkb.config import Settings

        location = Settings().model_copy(update={"embedding_model": args.static}).embedding_model_location
        modes.append(("static", location))
    qs = [MCQuestion.model_validate(q) for q in data.intentionqa_questions(SHARED, 5000)]
    texts = question_texts(qs)
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.choice(len(texts), size=min(args.texts, len(texts)), replace=False)]
    print(f"{len(texts)} distinct IntentionQA texts, mean {np.mean([len(t) for t in texts]):.0f} characters; threads {encoder_threads()}")

    rates: dict[tuple[str, str], list[float]] = {m: [] for m in modes}
    ratios: dict[tuple[str, str], list[float]] = {m: [] for m in modes}
    agree: dict[tuple[str, str], tuple[float, float]] = {}
    for r in range(args.rounds):
        ref: np.ndarray | None = None
        base = 0.0
        for backend, precision in modes:
            if backend == "static":
                rate, _ = _rate(Embedder(precision, None), texts, passes=10)
                rates[(backend, precision)].append(rate)
                ratios[(backend, precision)].append(rate / base)
                print(f"  round {r + 1}: static {Path(precision).name}: {rate:.1f} texts/s", flush=True)
                continue
            e = Embedder(DEFAULT_MODEL, None, backend=backend, precision=precision, onnx_dir=args.onnx_dir)
            sample = texts[: args.bf16_texts] if precision == "bfloat16" else texts
            rate, v = _rate(e, sample)
            if ref is None:
                ref, base = v, rate
            cos = np.sum(v * ref[: len(v)], axis=1)
            rates[(backend, precision)].append(rate)
            ratios[(backend, precision)].append(rate / base)
            agree[(backend, precision)] = (float(cos.mean()), float(cos.min()))
            print(f"  round {r + 1}: {backend} {precision}: {rate:.1f} texts/s", flush=True)

    print("\n| mode | texts/s (median) | × torch float32 (median of rounds) | cosine to float32: mean / least |")
    print("|---|---|---|---|")
    for m in modes:
        if m[0] == "static":
            print(f"| static ({Path(m[1]).name}) | {statistics.median(rates[m]):.1f} | {statistics.median(ratios[m]):.2f} | – (its own vectors) |")
            continue
        mean, least = agree[m]
        print(f"| {m[0]} {m[1]} | {statistics.median(rates[m]):.1f} | {statistics.median(ratios[m]):.2f} | {mean:.5f} / {least:.4f} |")
    if args.static:
        vs = [a / b for a, b in zip(rates[modes[-1]], rates[("onnx", "int8")])]
        print(f"\nstatic ÷ ONNX int8, same texts, same rounds: {statistics.median(vs):.1f}× (rounds: {', '.join(f'{x:.1f}' for x in vs)})")

    print("\ncontention: one other process spins on a core")
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,))
    spinner.start()
    try:
        time.sleep(1.0)
        picked = encoder_threads()
        out = {}
        for threads in sorted({2, picked}, reverse=True):
            figures = []
            for _ in range(args.rounds):
                e = Embedder(DEFAULT_MODEL, None, threads=threads, backend="onnx", onnx_dir=args.onnx_dir)
                figures.append(_rate(e, texts[:300])[0])
            out[threads] = statistics.median(figures)
        for threads, rate in out.items():
            mark = " (intentkb's pick)" if threads == picked else ""
            print(f"  onnx float32, {threads} threads{mark}: {rate:.1f} texts/s")
    finally:
        stop.set()
        spinner.join()


if __name__ == "__main__":
    main()
