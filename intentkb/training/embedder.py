"""`intentkb train embedder`: fine-tune the embedding model on the knowledge base's own links.

sentence-transformers' trainer with MultipleNegativesRankingLoss (in-batch negatives: each anchor
must pick its positive among the batch's; the no-duplicates sampler keeps a text from being its
own negative). Checkpoints go to `models/NAME.work/` every `save_steps`; a run stopped part-way
starts again from the last one when the data and options are the same (their hash is kept there).
The model is written to `models/NAME/` only at the end, whole, with `intentkb-model.json`: what it
was trained on, and a fingerprint that keys its vectors apart from any earlier model of that name.

It evaluates itself: IntentionQA-style T1/T2 questions built from the graph (`tasks.iqa`, the
distractors the base model's intention index gives), restricted to the held-out pairs, scored by
embedding similarity (`eval mcq`'s scorer) with the base model and with the trained one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from ..config import Settings
from ..errors import IntentKBError
from ..evaluation.metrics import Accuracy
from ..kb.store import GraphStore
from ..private import owner_only
from ..retrieval.embeddings import Embedder, EmbeddingCache
from ..retrieval.models import model_key, model_location
from .cross_fit import Schedule, common_args, publish, resume_point, ticking, train_and_save
from .heldout import heldout_questions, score_questions
from .links import STEP_MIN_SCORE, split_links

KINDS = ("cobuy", "purchase", "step")


class TrainOptions(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    epochs: int = Field(default=1, ge=1, le=100)
    batch_size: int = Field(default=32, ge=2, le=1024)
    learning_rate: float = Field(default=5e-5, gt=0, le=1)
    held_out: float = Field(default=0.2, gt=0, lt=1)
    kinds: list[str] = Field(default_factory=lambda: list(KINDS))
    step_min_score: float = Field(default=STEP_MIN_SCORE, ge=-1, le=1)
    seed: int = 0
    save_steps: int = Field(default=100, ge=1)
    max_questions: int = Field(default=2000, ge=1)  # held-out questions per task scored before and after


class TrainReport(BaseModel):
    name: str
    path: str
    base: str
    fingerprint: str
    options: TrainOptions
    examples: int
    by_kind: dict[str, int]
    train_pairs: int  # co-buy product pairs whose links trained
    held_out_pairs: int
    questions: dict[str, int]
    before: dict[str, Accuracy]
    after: dict[str, Accuracy]
    resumed_from: str | None = None
    train_seconds: float
    seconds: float

    def lines(self) -> list[str]:
        out = [
            f"trained {self.name} from {self.base} on {self.examples:,} links "
            f"({', '.join(f'{k} {v:,}' for k, v in self.by_kind.items())}) in {self.train_seconds:.0f}s"
            + (f" (resumed from {self.resumed_from})" if self.resumed_from else ""),
            f"held out {self.held_out_pairs:,} product pairs (trained on {self.train_pairs:,}); questions on them:",
        ]
        for t in self.before:
            b, a = self.before[t], self.after[t]
            out.append(f"  {t}  base {b.text()}  →  trained {a.text()}  ({((a.accuracy or 0) - (b.accuracy or 0)) * 100:+.1f} points)")
        out.append(f"saved to {self.path}; use it with INTENTKB_EMBEDDING_MODEL={self.name} (then `intentkb index build --rebuild`)")
        return out


def links_spec(base: str, opts: BaseModel, examples: list[tuple[str, str]]) -> str:
    """What a resumed run must share with the stopped one: base model, options, links."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps([base, opts.model_dump(exclude={"max_questions", "save_steps"})], sort_keys=True).encode())
    for a, p in examples:
        h.update(a.encode())
        h.update(b"\x00")
        h.update(p.encode())
        h.update(b"\x01")
    return h.hexdigest()


def train_embedder(
    store: GraphStore, settings: Settings, opts: TrainOptions, *, echo: Callable[[str], None] | None = None, progress: bool = True
) -> TrainReport:
    """Fine-tune the embedder on the graph's links into models/NAME (files the user's alone)."""
    with owner_only():
        return _train(store, settings, opts, echo, progress)


def _train(store: GraphStore, settings: Settings, opts: TrainOptions, echo: Callable[[str], None] | None, progress: bool) -> TrainReport:
    say = echo or (lambda _m: None)
    started = time.monotonic()
    unknown = sorted(set(opts.kinds) - set(KINDS))
    if unknown:
        raise IntentKBError(f"unknown link kinds {unknown}; choose from {', '.join(KINDS)}")
    base_name = settings.embedding_model_location
    base = model_key(base_name)
    out_dir = settings.models_dir / opts.name
    if Path(base_name).resolve() == out_dir.resolve():
        raise IntentKBError(f"the base model is {out_dir} itself; train into another name")

    split = split_links(store, opts.kinds, opts.held_out, opts.step_min_score)
    if len(split.train) < opts.batch_size:
        raise IntentKBError(
            f"only {len(split.train)} training links in the graph (need at least one batch of {opts.batch_size}); "
            "ingest co-buy records, purchase intentions or align script steps first"
        )
    say(
        f"{len(split.train):,} training links ({', '.join(f'{k} {v:,}' for k, v in split.by_kind.items())}); "
        f"{len(split.held_out_groups):,} product pairs held out"
    )

    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        base_embedder = Embedder(base_name, cache, device=settings.embedding_device, threads=settings.embedding_threads)
        questions = heldout_questions(store, settings, set(split.held_out_groups), opts.max_questions, base_embedder, opts.seed)
        before = score_questions(questions, base_embedder)
        say("base model on the held-out pairs: " + ", ".join(f"{t} {a.text()}" for t, a in before.items()))

        examples = [(p.anchor, p.positive) for p in split.train]
        spec = links_spec(base, opts, examples)
        work = settings.models_dir / f"{opts.name}.work"
        resumed, trained_s = fit_embedder(base_name, examples, opts, work, spec, settings, progress, say)

        fingerprint = uuid.uuid4().hex[:12]
        trained_embedder = Embedder(str(work / "final"), None, device=settings.embedding_device, threads=settings.embedding_threads)
        after = score_questions(questions, trained_embedder)
        report = TrainReport(
            name=opts.name,
            path=str(out_dir),
            base=base,
            fingerprint=fingerprint,
            options=opts,
            examples=len(examples),
            by_kind=split.by_kind,
            train_pairs=split.train_groups,
            held_out_pairs=len(split.held_out_groups),
            questions={t: len(q) for t, q in questions.items()},
            before=before,
            after=after,
            resumed_from=resumed,
            train_seconds=round(trained_s, 1),
            seconds=round(time.monotonic() - started, 1),
        )
        publish(work, settings.models_dir, opts.name, {"fingerprint": fingerprint, **report.model_dump(mode="json")})
        return report
    finally:
        cache.close()


def fit_embedder(
    base_name: str, examples: list[tuple[str, str]], opts: Schedule, work: Path, spec: str, settings: Settings, progress: bool, say: Callable[[str], None]
) -> tuple[str | None, float]:
    """Train into `work/final`, from the last checkpoint of an interrupted run with the same spec."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
    from transformers.utils import logging as hf_logging

    from ..retrieval.threads import encoder_threads

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(encoder_threads(settings.embedding_threads))
    resume = resume_point(work, spec, say)

    model = SentenceTransformer(model_location(base_name), device=settings.embedding_device)
    data = Dataset.from_dict({"anchor": [a for a, _ in examples], "positive": [p for _, p in examples]})
    bar, tick = ticking(max(1, len(examples) // opts.batch_size) * opts.epochs, progress)
    args = SentenceTransformerTrainingArguments(**common_args(work, opts, settings), batch_sampler=BatchSamplers.NO_DUPLICATES)
    model.model_card_data.set_widget_examples = lambda *_a, **_k: None  # a model-card nicety with a progress bar of its own
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(model), callbacks=[tick])
    took = train_and_save(trainer, model, work, resume, bar)
    return resume, took
