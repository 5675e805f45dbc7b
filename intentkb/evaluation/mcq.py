"""Multiple-choice questions in the IntentionQA JSONL format, scored by embedding similarity.

IntentionQA (MIND appendix; HKUST-KnowComp/IntentionQA) asks two kinds of question about a co-bought
pair. Task 1 (understanding): given item A and item B, which option is the intention of buying both?
Task 2 (utilization): given item A and the intention, which option is the product bought with it?
`options` is a letter → text map (or a list, read as A, B, C, …) and `gold_ind` the answer letter.
A question's task is its `task` field, else task 2 when item B's name is among the options, else 1.

The embedding scorer picks the option whose embedding is closest (cosine) to the question's: the
pair's names for task 1, item A's name with the intention for task 2. It is the similarity baseline
the papers compare LLMs against; `intentkb eval run` asks models. All texts of a file are encoded in
one call, so repeated options and item names are embedded once, and the embedding cache makes a
re-run cost nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import FormatError, IntentKBError
from ..io.paths import check_output
from ..io.rejects import RejectSink, explain, user_rejects_path
from ..io.sources import BadLine, jsonl_records
from ..kb.models import NumStr, OptText, Text
from ..retrieval.embeddings import Embedder, embedding_text
from ..retrieval.rerank import Reranker
from .metrics import Accuracy, accuracy

LETTERS = "ABCDEFGHIJ"


class MCQuestion(BaseModel):
    """One IntentionQA question; unknown fields (distractor ids, scores) are kept out of the way."""

    model_config = ConfigDict(extra="ignore")

    id: NumStr
    task: Literal[1, 2] | None = None
    item_a_name: Text
    item_b_name: OptText = None
    assertion: OptText = None
    relation: OptText = None
    options: dict[str, Text] = Field(min_length=2)
    gold_ind: str

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, v: Any) -> Any:
        if isinstance(v, list):
            if len(v) > len(LETTERS):
                raise ValueError(f"at most {len(LETTERS)} options")
            return dict(zip(LETTERS, v))
        if isinstance(v, dict):
            if len(v) > len(LETTERS):
                raise ValueError(f"at most {len(LETTERS)} options")
            return {str(k).strip().upper(): t for k, t in v.items()}
        return v

    @field_validator("gold_ind", mode="before")
    @classmethod
    def _letter(cls, v: Any) -> Any:
        if not isinstance(v, str):
            raise ValueError("must be the answer's letter (A, B, …)")
        return v.strip().upper()

    @model_validator(mode="after")
    def _answerable(self) -> MCQuestion:
        if self.gold_ind not in self.options:
            raise ValueError(f"gold_ind {self.gold_ind!r} is not one of the options {sorted(self.options)}")
        if self.task is None:
            self.task = 2 if self.item_b_name and self.item_b_name in self.options.values() else 1
        if self.task == 1 and not self.item_b_name:
            raise ValueError("task 1 needs item_b_name (the question is the pair)")
        if self.task == 2 and not self.assertion:
            raise ValueError("task 2 needs the assertion (the question is item A and the intention)")
        return self

    def query(self) -> str:
        if self.task == 1:
            return f"{self.item_a_name} and {self.item_b_name}"
        return f"{self.item_a_name}. {embedding_text(self.assertion or '')}"

    def option_texts(self) -> list[tuple[str, str]]:
        if self.task == 1:
            return [(k, embedding_text(v)) for k, v in self.options.items()]
        return list(self.options.items())


class Prediction(BaseModel):
    id: str
    task: int
    predicted: str
    gold: str
    correct: bool
    scores: dict[str, float]


class MCQReport(BaseModel):
    file: str
    scorer: str
    model: str
    encoder: str = ""  # backend, precision, threads (Embedder.describe)
    read: int
    scored: int
    rejected: int
    rejects_file: str | None
    overall: Accuracy
    by_task: dict[str, Accuracy]
    texts: int  # distinct texts embedded for the file
    encoded: int  # of those, how many went through the model (the rest came from the cache)
    pairs_read: int = 0  # (question, option) pairs the reranker read
    seconds: float

    @model_validator(mode="after")
    def _balanced(self) -> MCQReport:
        if self.read != self.scored + self.rejected:
            raise ValueError(f"read {self.read} != scored {self.scored} + rejected {self.rejected}")
        return self


def read_questions(path: Path, rejects: RejectSink, task: int | None = None) -> tuple[list[MCQuestion], int]:
    """Valid questions and the number of records read; bad ones go to `rejects` with their line."""
    out: list[MCQuestion] = []
    read = 0
    for line, raw in jsonl_records(path, ()):
        read += 1
        if isinstance(raw, BadLine):
            rejects.add(line, raw.reason, raw)
            continue
        if not isinstance(raw, dict):
            rejects.add(line, "expected a JSON object", raw)
            continue
        record = {**raw, "task": task} if task else dict(raw)
        record.setdefault("id", f"{path.name}:{line}")
        try:
            q = MCQuestion.model_validate(record)
        except ValidationError as e:
            rejects.add(line, explain(e), raw)
            continue
        out.append(q)
    return out, read


def question_texts(questions: list[MCQuestion]) -> list[str]:
    """Every distinct text a file's questions embed (what `--precision auto` measures on)."""
    return list(dict.fromkeys(t for q in questions for t in (q.query(), *(x for _, x in q.option_texts()))))


def score_embedding(questions: list[MCQuestion], embedder: Embedder) -> tuple[list[Prediction], int]:
    """Predictions, and the number of distinct texts embedded (all in one batched call)."""
    texts = question_texts(questions)
    slot = {t: i for i, t in enumerate(texts)}
    plan = [(slot[q.query()], [(k, slot[t]) for k, t in q.option_texts()]) for q in questions]
    vectors = embedder.encode(texts) if texts else np.zeros((0, 0), dtype=np.float32)
    out = []
    for q, (qi, opts) in zip(questions, plan):
        scores = {k: round(float(vectors[qi] @ vectors[oi]), 6) for k, oi in opts}
        best = max(scores, key=lambda k: (scores[k], -ord(k[0])))  # ties: the earlier letter
        out.append(Prediction(id=q.id, task=q.task or 1, predicted=best, gold=q.gold_ind, correct=best == q.gold_ind, scores=scores))
    return out, len(texts)


Parts = dict[str, tuple[float, float | None]]  # option letter -> (the reranker's probability, the embedder's cosine)


def rerank_parts(questions: list[MCQuestion], reranker: Reranker, embedder: Embedder | None = None) -> tuple[list[Parts], int]:
    """Each question's options with the cross-encoder's probability (it reads the question with the
    option) and, given an embedder, its cosine. Every option is read (a question has at most 10:
    cutting to the embedder's best few dropped wrong options only, and made questions easier).
    Also the number of distinct texts embedded."""
    first: list[Prediction | None] = [None] * len(questions)
    n_texts = 0
    if embedder is not None:
        scored, n_texts = score_embedding(questions, embedder)
        first = list(scored)
    keep = [q.option_texts() for q in questions]  # every option is read: a question has at most 10
    probs = iter(reranker.score([(q.query(), t) for q, opts in zip(questions, keep) for _, t in opts]).tolist())
    parts = [{k: (next(probs), p.scores[k] if p is not None else None) for k, _ in opts} for p, opts in zip(first, keep)]
    return parts, n_texts


def fuse_parts(questions: list[MCQuestion], parts: list[Parts], weight: float) -> list[Prediction]:
    """Predictions from the reranker's log-odds plus `weight` × the embedder's cosine: the
    cross-encoder judges fit, the embedder keeps it from a near miss that merely reads well."""
    out = []
    for q, opts in zip(questions, parts):
        scores = {k: round(logit(pr) + (weight * cos if cos is not None else 0.0), 6) for k, (pr, cos) in opts.items()}
        best = max(scores, key=lambda k: (scores[k], -ord(k[0])))
        out.append(Prediction(id=q.id, task=q.task or 1, predicted=best, gold=q.gold_ind, correct=best == q.gold_ind, scores=scores))
    return out


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def score_rerank(
    questions: list[MCQuestion], reranker: Reranker, embedder: Embedder | None = None, weight: float | None = None
) -> tuple[list[Prediction], int]:
    """Predictions by the cross-encoder, fused with the embedder's cosine by the weight its training
    chose (`Reranker.fusion_weight`, or `weight`); the cross-encoder alone without an embedder."""
    parts, n_texts = rerank_parts(questions, reranker, embedder)
    w = reranker.fusion_weight if weight is None else weight
    return fuse_parts(questions, parts, w), n_texts


def evaluate_mcq(
    path: Path | str,
    embedder: Embedder | Callable[[list[str]], Embedder],
    *,
    scorer: str = "embedding",
    reranker: Reranker | None = None,
    task: int | None = None,
    rejects_path: Path | None = None,
    predictions_path: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> MCQReport:
    """Score every question of an IntentionQA JSONL file; the report balances read = scored + rejected.
    `embedder` may be a function of the file's texts that makes one (`--precision auto` measures on
    them); the rerank scorer makes it only when a question has more options than it reads."""
    import time

    if scorer not in ("embedding", "rerank"):
        raise IntentKBError(f"scorer {scorer!r} is not available here; the LLM scorer comes with `intentkb eval run`")
    if scorer == "rerank" and reranker is None:
        raise IntentKBError("the rerank scorer needs a reranker (`--reranker NAME`, made by `intentkb train reranker`)")
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    started = time.monotonic()
    sink = RejectSink(rejects_path or user_rejects_path(path, "mcq"), path, echo)
    try:
        questions, read = read_questions(path, sink, task)
    finally:
        sink.close()
    needs_embedder = scorer == "embedding" or reranker is None or bool(reranker.fusion_weight)
    if needs_embedder and not isinstance(embedder, Embedder):
        embedder = embedder(question_texts(questions))
    emb = embedder if isinstance(embedder, Embedder) else None
    before = emb.encoded if emb else 0
    if scorer == "rerank" and reranker is not None:
        preds, n_texts = score_rerank(questions, reranker, emb)
    else:
        assert emb is not None
        preds, n_texts = score_embedding(questions, emb)
    if predictions_path:
        check_output(predictions_path, directory=False)
        with open(predictions_path, "w", encoding="utf-8") as fh:
            for p in preds:
                fh.write(json.dumps(p.model_dump(), ensure_ascii=False) + "\n")
    by_task = {}
    for t in sorted({p.task for p in preds}):
        mine = [p for p in preds if p.task == t]
        by_task[f"task{t}"] = accuracy(sum(p.correct for p in mine), len(mine))
    return MCQReport(
        file=str(path),
        scorer=scorer,
        model=reranker.location if scorer == "rerank" and reranker is not None else (emb.key if emb else ""),
        read=read,
        scored=len(preds),
        rejected=sink.count,
        rejects_file=str(sink.path) if sink.count else None,
        overall=accuracy(sum(p.correct for p in preds), len(preds)),
        by_task=by_task,
        texts=n_texts,
        encoder=emb.describe() if emb else "",
        encoded=(emb.encoded - before) if emb else 0,
        pairs_read=reranker.scored if scorer == "rerank" and reranker is not None else 0,
        seconds=round(time.monotonic() - started, 2),
    )
