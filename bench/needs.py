"""Needs a shopper would type, against the shared-data KB: how often retrieval serves them.

    INTENTKB_HOME=KB python bench/needs.py [--finetuned NAME] [--model NAME ...] [--reranker NAME] [--unjudged FILE]

`bench/needs/needs.jsonl` holds 40 needs written by hand with no product words in them: 32 the
shared catalogue (1,000 Amazon products + the 6,345 products of the MIND co-buy records) can serve,
8 it cannot (services, paperwork). Each configuration — the base embedder, the fine-tuned one
(`train embedder`), each with the reranker (`train reranker`), and any other model named with
`--model` (a static model of `train static`, say) — retrieves the top 5 for every need;
`bench/needs/judgements.jsonl` says, for each (need, product) that any configuration returned,
whether the product serves the need (judged by reading the product's title, by hand). Printed per
configuration:
- precision@5: serving products among the top 5, over the servable needs;
- served: the share of servable needs with a serving product in the top 5;
- flagged weak: the share of unservable needs whose rank-1 hit is marked weak (not a confident match);
- ms/need: median wall time of one need, warm, measured over the 40.
A (need, product) pair no judgement covers is counted and written to `--unjudged` for judging; the
script then exits non-zero, as it does when a configuration returns fewer than 5 hits for a need.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from intentkb.config import Settings
from intentkb.kb.engines import open_store
from intentkb.retrieval.build import build_index
from intentkb.retrieval.rerank import Reranker
from intentkb.retrieval.retrieve import Retriever

HERE = Path(__file__).parent / "needs"
K = 5


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def settings_for(base: Settings, model: str | None) -> Settings:
    """The base KB's settings, or a copy whose indexes (built once, kept) embed with `model`."""
    if model is None:
        return base
    s = base.with_data_dir(base.data_dir / "bench-needs" / model).model_copy(update={"embedding_model": str(base.models_dir / model)})
    s.data_dir.mkdir(parents=True, exist_ok=True)
    return s


def run(store, settings: Settings, reranker: Reranker | None, needs: list[dict]) -> tuple[dict[str, list], list[float]]:
    for name in ("intentions", "products"):
        build_index(store, settings, name)
    out, took = {}, []
    with Retriever(store, settings, reranker=reranker) as r:
        r.retrieve("warm up the model", K)
        for n in needs:
            t = time.perf_counter()
            out[n["id"]] = r.retrieve(n["need"], K)
            took.append(time.perf_counter() - t)
    return out, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--finetuned", help="embedder NAME in $INTENTKB_HOME/models (train embedder -o NAME)")
    ap.add_argument("--model", action="append", default=[], help="another embedder NAME in $INTENTKB_HOME/models, a configuration of its own (repeatable)")
    ap.add_argument("--reranker", help="reranker NAME (train reranker -o NAME)")
    ap.add_argument("--unjudged", type=Path, help="write the (need, product) pairs no judgement covers here")
    ap.add_argument("--json", type=Path, help="write every configuration's hits and figures here")
    args = ap.parse_args()
    base = Settings()
    needs = load(HERE / "needs.jsonl")
    judged = {(j["need"], j["product"]): bool(j["serves"]) for j in load(HERE / "judgements.jsonl")} if (HERE / "judgements.jsonl").exists() else {}
    cross = Reranker.open(base, args.reranker) if args.reranker else None
    configs = [("base", None, None)] + ([("base + reranker", None, cross)] if cross else [])
    if args.finetuned:
        configs += [("fine-tuned", args.finetuned, None)] + ([("fine-tuned + reranker", args.finetuned, cross)] if cross else [])
    configs += [(name, name, None) for name in args.model]
    servable = [n for n in needs if n["servable"]]
    unservable = [n for n in needs if not n["servable"]]
    titles = {n["id"]: n["need"] for n in needs}
    unjudged: dict[tuple[str, str], str] = {}
    rows, dump = [], {}
    with open_store(base) as store:
        for label, model, rr in configs:
            hits, took = run(store, settings_for(base, model), rr, needs)
            for nid, hs in hits.items():
                for h in hs:
                    if (nid, h.product) not in judged:
                        unjudged[(nid, h.product)] = h.title or h.product
            verdicts = {nid: [judged.get((nid, h.product)) for h in hs] for nid, hs in hits.items()}
            p_at_5 = statistics.fmean(sum(bool(x) for x in verdicts[n["id"]]) / K for n in servable)
            served = statistics.fmean(any(verdicts[n["id"]]) for n in servable)
            weak = statistics.fmean(bool(hits[n["id"]]) and hits[n["id"]][0].weak for n in unservable)
            false_weak = statistics.fmean(bool(hits[n["id"]]) and hits[n["id"]][0].weak for n in servable)
            rows.append((label, p_at_5, served, weak, false_weak, statistics.median(took) * 1000))
            dump[label] = {nid: [h.model_dump(include={"product", "title", "score", "weak"}) for h in hs] for nid, hs in hits.items()}
    print(f"{len(needs)} needs ({len(servable)} servable, {len(unservable)} not), top {K}, {len(judged)} judgements")
    print(f"{'configuration':<24} {'precision@5':>11} {'served':>7} {'flagged weak':>12} {'servable flagged weak':>21} {'ms/need':>8}")
    for label, p, s, w, fw, ms in rows:
        print(f"{label:<24} {p:>11.3f} {s:>7.1%} {w:>12.1%} {fw:>21.1%} {ms:>8.1f}")
    short = [f"{label}: {nid}" for label in dump for nid, hs in dump[label].items() if len(hs) < K]
    if short:
        print(f"FAILED: fewer than {K} hits for {', '.join(short[:10])}")
    if unjudged:
        print(f"FAILED: {len(unjudged)} (need, product) pairs are not judged (counted as not serving); judge them (--unjudged FILE) before reading the figures")
        if args.unjudged:
            with open(args.unjudged, "w") as fh:
                for (nid, pid), title in sorted(unjudged.items()):
                    fh.write(json.dumps({"need": nid, "need_text": titles[nid], "product": pid, "title": title}) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"figures": rows, "hits": dump}, indent=1))
    if short or unjudged:
        sys.exit(1)


if __name__ == "__main__":
    main()
