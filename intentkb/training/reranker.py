"""`intentkb train reranker`: a cross-encoder learnt from the knowledge base's own links.

The links are `train embedder`'s (module `links`: a co-buy pair ↔ its intention, product A with the
intention ↔ product B, the intention as a need ↔ each product, a step ↔ its aligned intention, a
purchase intention ↔ its product), each a positive, with hard negatives the current embedder
ranks high (module `negatives`). Co-buy pairs are held out product-disjointly (module `split`);
the IntentionQA-style questions on them are scored by the embedder and by the trained reranker,
and both figures are printed and kept in the model's `intentkb-model.json`.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

from pydantic import BaseModel, Field

from ..config import Settings
from ..errors import IntentKBError
from ..evaluation.mcq import MCQuestion, Parts, Prediction, fuse_parts, rerank_parts
from ..evaluation.metrics import Accuracy, accuracy
from ..kb.store import GraphStore
from ..private import owner_only
from ..retrieval.embeddings import open_embedder
from ..retrieval.models import DEFAULT_MODEL, model_key
from ..retrieval.rerank import Reranker, reranker_options
from .cross_fit import FitOptions, fit_cross_encoder, publish, sample, spec_hash
from .embedder import KINDS
from .heldout import heldout_questions, score_questions
from .links import STEP_MIN_SCORE, split_links
from .negatives import mine


class RerankOptions(FitOptions):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    negatives: int = Field(default=1, ge=0, le=20)  # hard negatives per anchor, mined by the embedder
    random_negatives: int = Field(default=1, ge=0, le=20)  # unrelated candidates per anchor
    held_out: float = Field(default=0.2, gt=0, lt=1)
    kinds: list[str] = Field(default_factory=lambda: list(KINDS))
    step_min_score: float = Field(default=STEP_MIN_SCORE, ge=-1, le=1)
    max_questions: int = Field(default=2000, ge=1)
    learning_rate: float = Field(default=4e-5, gt=0, le=1)


class RerankReport(BaseModel):
    name: str
    path: str
    kind: str = "reranker"
    base: str
    miner: str  # the embedder that mined the negatives and is the first stage
    options: RerankOptions
    examples: int
    positives: int
    by_shape: dict[str, int]
    train_pairs: int
    held_out_pairs: int
    held_out_products: int
    questions: dict[str, int]
    embedder: dict[str, Accuracy]
    reranker: dict[str, Accuracy]  # the cross-encoder alone
    fused: dict[str, Accuracy]  # its log-odds + fusion_weight × the embedder's cosine, each half scored with the weight the other half chose
    fusion_weight: float
    resumed_from: str | None = None
    train_seconds: float
    seconds: float

    def lines(self) -> list[str]:
        out = [
            f"trained reranker {self.name} from {self.base} on {self.examples:,} pairs ({self.positives:,} links of the graph, "
            f"{self.examples - self.positives:,} negatives mined by {self.miner}) in {self.train_seconds:.0f}s"
            + (f" (resumed from {self.resumed_from})" if self.resumed_from else ""),
            f"held out {self.held_out_pairs:,} product pairs ({self.held_out_products:,} products none of the training pairs has); questions on them:",
        ]
        for t in self.embedder:
            e, r, f = self.embedder[t], self.reranker[t], self.fused[t]
            out.append(
                f"  {t}  embedder {e.text()}  →  reranker alone {r.text()}  →  reranker + embedder {f.text()}  "
                f"({((f.accuracy or 0) - (e.accuracy or 0)) * 100:+.1f} points)"
            )
        out.append(f"fusion weight {self.fusion_weight} (eval mcq --scorer rerank adds it × the embedder's cosine to the reranker's log-odds)")
        out.append(f"saved to {self.path}; use it with `--rerank {self.name}` (retrieve, serve) or `--scorer rerank --reranker {self.name}` (eval mcq)")
        return out


def train_reranker(
    store: GraphStore, settings: Settings, opts: RerankOptions, *, echo: Callable[[str], None] | None = None, progress: bool = True
) -> RerankReport:
    """Fine-tune a cross-encoder on the graph's links into models/NAME (files the user's alone)."""
    with owner_only():
        return _train(store, settings, opts, echo or (lambda _m: None), progress)


def _train(store: GraphStore, settings: Settings, opts: RerankOptions, say: Callable[[str], None], progress: bool) -> RerankReport:
    started = time.monotonic()
    unknown = sorted(set(opts.kinds) - set(KINDS))
    if unknown:
        raise IntentKBError(f"unknown link kinds {unknown}; choose from {', '.join(KINDS)}")
    split = split_links(store, opts.kinds, opts.held_out, opts.step_min_score)
    if len(split.train) < opts.batch_size:
        raise IntentKBError(
            f"only {len(split.train)} training links in the graph (need at least one batch of {opts.batch_size}); "
            "ingest co-buy records, purchase intentions or align script steps first"
        )
    embedder = open_embedder(settings, progress=progress, echo=say)
    try:
        say(f"{len(split.train):,} links to learn from; mining {opts.negatives} hard and {opts.random_negatives} random negatives each with {embedder.key}")
        rows = sample(mine(split.train, embedder, opts.negatives, opts.seed, opts.random_negatives), opts)
        positives = sum(1 for r in rows if r[2] == 1.0)
        questions = heldout_questions(store, settings, set(split.held_out_groups), opts.max_questions, embedder, opts.seed)
        before = score_questions(questions, embedder)
        say("embedder on the held-out pairs: " + ", ".join(f"{t} {a.text()}" for t, a in before.items()))
        base = DEFAULT_MODEL
        work = settings.models_dir / f"{opts.name}.work"
        spec = spec_hash(base, opts.model_dump(exclude={"max_questions", "save_steps"}), rows=rows)
        resumed, trained_s = fit_cross_encoder(base, rows, opts, work, spec, settings, progress, say)
        reranker = Reranker(work / "final", **reranker_options(settings))
        parts = {t: rerank_parts(qs, reranker, embedder)[0] for t, qs in questions.items()}
        after = {t: _accuracy(fuse_parts(qs, parts[t], 0.0)) for t, qs in questions.items()}
        weight, fused = tune_fusion(questions, parts)
        say(f"fusion weight {weight} (log-odds + weight × cosine), chosen on held-out questions by 2-fold cross-fitting")
        by_shape: dict[str, int] = {}
        for p in split.train:
            by_shape[p.shape] = by_shape.get(p.shape, 0) + 1
        report = RerankReport(
            name=opts.name,
            path=str(settings.models_dir / opts.name),
            base=model_key(base),
            miner=embedder.key,
            options=opts,
            examples=len(rows),
            positives=positives,
            by_shape=by_shape,
            train_pairs=split.train_groups,
            held_out_pairs=len(split.held_out_groups),
            held_out_products=len({x for g in split.held_out_groups for x in g.split("|")}),
            questions={t: len(q) for t, q in questions.items()},
            embedder=before,
            reranker=after,
            fused=fused,
            fusion_weight=weight,
            resumed_from=resumed,
            train_seconds=round(trained_s, 1),
            seconds=round(time.monotonic() - started, 1),
        )
        publish(work, settings.models_dir, opts.name, {"fingerprint": uuid.uuid4().hex[:12], **report.model_dump(mode="json")})
        return report
    finally:
        if embedder.cache:
            embedder.cache.close()


FUSION_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def _fold(q: MCQuestion) -> int:
    return int.from_bytes(hashlib.blake2b(q.id.encode(), digest_size=4).digest(), "big") % 2


def _best_weight(questions: dict[str, list[MCQuestion]], parts: dict[str, list[Parts]], fold: int | None) -> float:
    """The weight with the most correct answers over both tasks on the questions of `fold` (all: None)."""

    def correct(w: float) -> int:
        n = 0
        for t, qs in questions.items():
            mine = [(q, p) for q, p in zip(qs, parts[t]) if fold is None or _fold(q) == fold]
            n += sum(x.correct for x in fuse_parts([q for q, _ in mine], [p for _, p in mine], w))
        return n

    return max(FUSION_WEIGHTS, key=lambda w: (correct(w), -w))


def tune_fusion(questions: dict[str, list[MCQuestion]], parts: dict[str, list[Parts]]) -> tuple[float, dict[str, Accuracy]]:
    """The fusion weight chosen on all held-out questions, and the accuracy it would honestly have:
    each half of the questions scored with the weight the other half chose (2-fold cross-fitting)."""
    chosen = {f: _best_weight(questions, parts, 1 - f) for f in (0, 1)}
    fused = {}
    for t, qs in questions.items():
        preds = [fuse_parts([q], [p], chosen[_fold(q)])[0] for q, p in zip(qs, parts[t])]
        fused[t] = _accuracy(preds)
    return _best_weight(questions, parts, None), fused


def _accuracy(preds: list[Prediction]) -> Accuracy:
    return accuracy(sum(p.correct for p in preds), len(preds))
