"""Fitting a cross-encoder on labelled (query, candidate) pairs, and writing a trained model whole.

Shared by `train reranker` and `train critic`: both are a sentence-transformers `CrossEncoder` with
one logit, started from the bundled MiniLM's weights (a new classification head on its encoder)
and trained with binary cross-entropy. As in `train embedder`, checkpoints go to `NAME.work/`, a
stopped run with the same data and options resumes from its last one, and the model reaches
`models/NAME` only at the end, in one rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..config import Settings
from ..private import private_dir, private_write_text
from ..progress import Progress
from ..retrieval.models import MODEL_MARKER, model_location
from ..retrieval.rerank import MAX_LENGTH


class FitOptions(BaseModel):
    epochs: int = Field(default=1, ge=1, le=100)
    batch_size: int = Field(default=32, ge=2, le=1024)
    learning_rate: float = Field(default=5e-5, gt=0, le=1)
    pos_weight: float = Field(default=1.0, gt=0)  # weight of a positive against a negative in the loss
    seed: int = 0
    save_steps: int = Field(default=200, ge=1)
    max_examples: int | None = Field(default=None, ge=2)  # train on a seeded sample of at most this many pairs (a quick run)


def sample(rows: list[tuple[str, str, float]], opts: FitOptions) -> list[tuple[str, str, float]]:
    if opts.max_examples is None or len(rows) <= opts.max_examples:
        return rows
    import random

    return random.Random(opts.seed).sample(rows, opts.max_examples)


def spec_hash(*parts: Any, rows: list[tuple[str, str, float]]) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    for q, c, y in rows:
        h.update(f"{q}\x00{c}\x00{y}\x01".encode())
    return h.hexdigest()


def resume_point(work: Path, spec: str, say: Callable[[str], None]) -> str | None:
    """The last checkpoint in `work` of a stopped run with the same `spec` (data and options);
    another run's checkpoints are cleared."""
    spec_file = work / "spec.txt"
    if work.exists() and (not spec_file.exists() or spec_file.read_text() != spec):
        shutil.rmtree(work)
    private_dir(work)
    private_write_text(spec_file, spec)
    checkpoints = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    resume = str(checkpoints[-1]) if checkpoints else None
    if resume:
        say(f"resuming from {Path(resume).name}")
    return resume


def fit_cross_encoder(
    base: str, rows: list[tuple[str, str, float]], opts: FitOptions, work: Path, spec: str, settings: Settings, progress: bool, say: Callable[[str], None]
) -> tuple[str | None, float]:
    """Train into `work/final`; (the checkpoint resumed from, seconds spent training)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers.utils import logging as hf_logging

    from ..retrieval.threads import encoder_threads

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(encoder_threads(settings.embedding_threads))
    resume = resume_point(work, spec, say)
    model = CrossEncoder(model_location(base), num_labels=1, max_length=MAX_LENGTH, device=settings.embedding_device)
    data = Dataset.from_dict({"query": [q for q, _, _ in rows], "candidate": [c for _, c, _ in rows], "label": [float(y) for _, _, y in rows]})
    bar, tick = ticking(max(1, len(rows) // opts.batch_size) * opts.epochs, progress)
    args = CrossEncoderTrainingArguments(**common_args(work, opts, settings))
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(opts.pos_weight))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss, callbacks=[tick])
    took = train_and_save(trainer, model, work, resume, bar)
    return resume, took


class Schedule(Protocol):
    """What the trainer's arguments are made of (FitOptions, and train embedder's options)."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    save_steps: int


def common_args(work: Path, opts: Schedule, settings: Settings) -> dict[str, Any]:
    """The trainer arguments every intentkb training shares: checkpoints in `work`, no logging, no tqdm."""
    return {
        "output_dir": str(work),
        "num_train_epochs": opts.epochs,
        "per_device_train_batch_size": opts.batch_size,
        "learning_rate": opts.learning_rate,
        "warmup_steps": 0.1,  # a float: the share of steps (transformers 5)
        "seed": opts.seed,
        "data_seed": opts.seed,
        "dataloader_drop_last": True,
        "save_strategy": "steps",
        "save_steps": opts.save_steps,
        "save_total_limit": 1,
        "logging_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": settings.embedding_device == "cpu",
        "dataloader_num_workers": 0,
    }


def ticking(total: int, progress: bool) -> tuple[Progress, Any]:
    """intentkb's progress bar, and the trainer callback that moves it."""
    from transformers import TrainerCallback

    bar = Progress(total, "training", unit="steps", enabled=progress)

    class Tick(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            bar.update(state.global_step - bar.done)

    return bar, Tick()


def train_and_save(trainer: Any, model: Any, work: Path, resume: str | None, bar: Progress) -> float:
    """Train (from `resume` when set) and save into `work/final`; the seconds it took."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # with tqdm off it prints the trainer's log dicts on stdout
    t = time.monotonic()
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        bar.close()
    took = time.monotonic() - t
    model.save(str(work / "final"))
    return took


def publish(work: Path, models_dir: Path, name: str, marker: dict[str, Any]) -> Path:
    """`work/final` becomes `models_dir/NAME` in one rename, with its marker file; the work folder goes."""
    out_dir = models_dir / name
    tmp = models_dir / f".{name}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work / "final", tmp)
    private_write_text(tmp / MODEL_MARKER, json.dumps(marker, indent=2))
    old = models_dir / f".{name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return out_dir
