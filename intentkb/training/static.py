"""`intentkb train static`: a static (token-vector) embedder distilled from a sentence-transformers
model, optionally fine-tuned on the knowledge base's own links.

Distillation is model2vec's: every token of the teacher's vocabulary goes through the teacher once,
the outputs are reduced by PCA and weighted by token frequency (SIF). A text's vector is then the
mean of its tokens' vectors (module `retrieval.static`): no network at query time, tens of
thousands of texts a second on one core. `--epochs N` goes on to train those token vectors on the
links `train embedder` learns from (MultipleNegativesRankingLoss, sentence-transformers'
`StaticEmbedding`), and the result is written back in model2vec's format.

The model scores itself as `train embedder` does: IntentionQA-style T1/T2 questions about held-out,
product-disjoint pairs, with the teacher, the distilled model and (with epochs) the fine-tuned one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..config import Settings
from ..errors import IntentKBError
from ..evaluation.metrics import Accuracy
from ..kb.store import GraphStore
from ..private import owner_only, private_dir
from ..retrieval.embeddings import Embedder, EmbeddingCache
from ..retrieval.models import model_key, model_location
from ..retrieval.static import is_static
from .cross_fit import publish, resume_point
from .embedder import KINDS, fit_embedder, links_spec
from .heldout import heldout_questions, score_questions
from .links import STEP_MIN_SCORE, split_links


class StaticOptions(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    teacher: str | None = None  # a model name or path; None: the embedding model of the settings
    dims: int = Field(default=256, ge=8, le=4096)  # PCA dimensions of the token vectors
    epochs: int = Field(default=3, ge=0, le=100)  # 0: distil only
    batch_size: int = Field(default=256, ge=2, le=8192)
    learning_rate: float = Field(default=0.05, gt=0, le=10)
    held_out: float = Field(default=0.2, gt=0, lt=1)
    kinds: list[str] = Field(default_factory=lambda: list(KINDS))
    step_min_score: float = Field(default=STEP_MIN_SCORE, ge=-1, le=1)
    seed: int = 0
    save_steps: int = Field(default=200, ge=1)
    max_questions: int = Field(default=2000, ge=1)


class StaticReport(BaseModel):
    name: str
    path: str
    kind: str = "static"
    teacher: str
    fingerprint: str
    options: StaticOptions
    vocabulary: int
    dims: int
    examples: int  # links fine-tuned on (0: distilled only)
    held_out_pairs: int
    questions: dict[str, int]
    teacher_scores: dict[str, Accuracy]
    distilled_scores: dict[str, Accuracy]
    tuned_scores: dict[str, Accuracy] | None = None
    distill_seconds: float
    train_seconds: float
    seconds: float

    def lines(self) -> list[str]:
        out = [
            f"distilled {self.name} from {self.teacher}: {self.vocabulary:,} token vectors of {self.dims} dimensions in {self.distill_seconds:.0f}s"
            + (f", fine-tuned on {self.examples:,} links in {self.train_seconds:.0f}s" if self.examples else ""),
            f"held out {self.held_out_pairs:,} product pairs; questions on them:",
        ]
        for t, a in self.teacher_scores.items():
            d = self.distilled_scores[t]
            line = f"  {t}  teacher {a.text()}  distilled {d.text()}"
            if self.tuned_scores:
                line += f"  fine-tuned {self.tuned_scores[t].text()}"
            out.append(line)
        out.append(f"saved to {self.path}; use it with INTENTKB_EMBEDDING_MODEL={self.name} (then `intentkb index build --rebuild`)")
        return out


def train_static(
    store: GraphStore, settings: Settings, opts: StaticOptions, *, echo: Callable[[str], None] | None = None, progress: bool = True
) -> StaticReport:
    """Distil (and fine-tune) a static embedder into models/NAME (files the user's alone)."""
    with owner_only():
        return _train(store, settings, opts, echo or (lambda _m: None), progress)


def _train(store: GraphStore, settings: Settings, opts: StaticOptions, say: Callable[[str], None], progress: bool) -> StaticReport:
    started = time.monotonic()
    unknown = sorted(set(opts.kinds) - set(KINDS))
    if unknown:
        raise IntentKBError(f"unknown link kinds {unknown}; choose from {', '.join(KINDS)}")
    teacher_name = opts.teacher or settings.embedding_model_location
    if "/" not in teacher_name and (settings.models_dir / teacher_name).is_dir():
        teacher_name = str(settings.models_dir / teacher_name)
    teacher_dir = model_location(teacher_name)
    if not (Path(teacher_dir) / "config.json").is_file():
        raise IntentKBError(f"--from {teacher_name!r} is not a sentence-transformers model here (no config.json; model hubs are not reached)")
    if is_static(teacher_dir):
        raise IntentKBError(f"{teacher_name!r} is a static model already; distil from a sentence-transformers model (--from)")
    out_dir = settings.models_dir / opts.name
    if Path(teacher_dir).resolve() == out_dir.resolve():
        raise IntentKBError(f"the teacher is {out_dir} itself; train into another name")
    plain = settings.model_copy(update={"embedding_model": teacher_name, "embedding_backend": "torch", "embedding_precision": "float32"})

    split = split_links(store, opts.kinds, opts.held_out, opts.step_min_score)
    if opts.epochs and len(split.train) < opts.batch_size:
        raise IntentKBError(
            f"only {len(split.train)} training links in the graph (need at least one batch of {opts.batch_size}); "
            "ingest co-buy records, purchase intentions or align script steps first, or distil only (--epochs 0)"
        )
    work = settings.models_dir / f"{opts.name}.work"
    examples = [(p.anchor, p.positive) for p in split.train] if opts.epochs else []
    if opts.epochs and len(examples) < 2 * opts.batch_size:
        raise IntentKBError(f"{len(examples)} training links make fewer than two batches of {opts.batch_size}: lower --batch-size or distil only (--epochs 0)")
    spec = links_spec(model_key(teacher_name), opts, examples)
    resume_point(work, spec, lambda _m: None)  # another run's work is cleared before the distillation lands in it

    t = time.monotonic()
    say(f"distilling {teacher_name} into {opts.dims}-dimension token vectors")
    distilled = work / "distilled"
    vocabulary = distill(teacher_dir, distilled, opts.dims)
    distill_s = time.monotonic() - t

    cache = EmbeddingCache(settings.embedding_cache_path)
    try:
        teacher = Embedder(teacher_name, cache, device=settings.embedding_device, threads=settings.embedding_threads)
        questions = heldout_questions(store, plain, set(split.held_out_groups), opts.max_questions, teacher, opts.seed)
        teacher_scores = score_questions(questions, teacher)
        distilled_scores = score_questions(questions, Embedder(str(distilled), None))
        say("held-out questions: teacher " + _line(teacher_scores) + "; distilled " + _line(distilled_scores))
        tuned_scores, train_s = None, 0.0
        if opts.epochs:
            say(f"fine-tuning the token vectors on {len(examples):,} links")
            _, train_s = fit_embedder(str(distilled), examples, opts, work, spec, settings, progress, say)
            to_static(work / "final", distilled, work / "tuned")
            tuned_scores = score_questions(questions, Embedder(str(work / "tuned"), None))
            say("fine-tuned: " + _line(tuned_scores))
        final = work / "final"
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work / ("tuned" if opts.epochs else "distilled"), final)
        report = StaticReport(
            name=opts.name,
            path=str(out_dir),
            teacher=model_key(teacher_name),
            fingerprint=uuid.uuid4().hex[:12],
            options=opts,
            vocabulary=vocabulary,
            dims=opts.dims,
            examples=len(examples),
            held_out_pairs=len(split.held_out_groups),
            questions={k: len(q) for k, q in questions.items()},
            teacher_scores=teacher_scores,
            distilled_scores=distilled_scores,
            tuned_scores=tuned_scores,
            distill_seconds=round(distill_s, 1),
            train_seconds=round(train_s, 1),
            seconds=round(time.monotonic() - started, 1),
        )
        publish(work, settings.models_dir, opts.name, report.model_dump(mode="json"))
        return report
    finally:
        cache.close()


def _line(scores: dict[str, Accuracy]) -> str:
    return ", ".join(f"{t} {a.text()}" for t, a in scores.items())


def distill(teacher_dir: str, out: Path, dims: int) -> int:
    """model2vec's distillation of the teacher into `out`; the number of token vectors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from functools import partial

    import model2vec.distill.inference as m2v_inference
    from model2vec.distill import distill as m2v_distill

    if not getattr(m2v_inference.tqdm, "keywords", None):  # its bar per batch of tokens: the caller says what runs
        setattr(m2v_inference, "tqdm", partial(m2v_inference.tqdm, disable=True))  # noqa: B010

    from ..retrieval.quiet import quiet_transformers

    quiet_transformers()
    teacher_dims = _hidden_size(teacher_dir)
    # float32: training float16 token vectors with AdamW on a CPU turns them to noise
    model = m2v_distill(model_name=teacher_dir, pca_dims=min(dims, teacher_dims) if teacher_dims else dims, device="cpu", quantize_to="float32")
    shutil.rmtree(out, ignore_errors=True)
    private_dir(out.parent)
    model.save_pretrained(str(out))
    return int(model.embedding.shape[0])


def _hidden_size(directory: str) -> int | None:
    try:
        return int(json.loads((Path(directory) / "config.json").read_text())["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def to_static(trained: Path, distilled: Path, out: Path) -> None:
    """The token vectors of a fine-tuned sentence-transformers `StaticEmbedding` written back in
    model2vec's format, beside the distilled model's tokenizer and configuration."""
    from safetensors.numpy import save_file

    found = sorted(trained.glob("**/model.safetensors"))
    if not found:
        raise IntentKBError(f"no trained token vectors under {trained}")
    from safetensors import safe_open

    with safe_open(str(found[0]), framework="numpy") as fh:
        names = list(fh.keys())
        key = next(k for k in names if k.endswith("embedding.weight") or k == "embeddings")
        vectors = np.asarray(fh.get_tensor(key), dtype=np.float32)
    shutil.rmtree(out, ignore_errors=True)
    private_dir(out)
    save_file({"embeddings": vectors}, str(out / "model.safetensors"))
    for name in ("tokenizer.json", "config.json", "modules.json"):
        if (distilled / name).exists():
            shutil.copy(distilled / name, out / name)
    config = json.loads((out / "config.json").read_text())
    config["embedding_dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(config, indent=2))
