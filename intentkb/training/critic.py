"""`intentkb train critic`: a cross-encoder that says whether an intention is plausible for its pair.

MIND and FolkScope keep generated knowledge only when a filter finds it plausible and typical; in
intentkb that filter is an LLM call per intention (`generate mind`'s role-aware filter). The critic
learns the same judgement from labels already in the graph — the filter's verdicts (`accepted`,
from the shared records' `Agreement_*`: a silver label) — and from human judgements where a file of
them is given (`--human`, each counted `human_weight` times). It reads the pair's titles with the
relation and the intention, as the filter does. Pairs are split product-disjointly (module
`split`); accuracy, ROC AUC and the majority baseline are measured on the held-out ones, and so is
what a `--critic-threshold` would do there: how many filter calls it saves and how often its
confident verdicts agree with the filter's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from ..config import Settings
from ..errors import IntentKBError
from ..io.rejects import RejectSink, user_rejects_path, validated
from ..io.sources import base_suffix, csv_records, jsonl_records
from ..kb.models import Key
from ..kb.queries import keyset_pages
from ..kb.store import GraphStore
from ..kb.texts import strip_boilerplate
from ..private import owner_only
from ..retrieval.models import DEFAULT_MODEL, model_key
from ..retrieval.rerank import Reranker, reranker_options
from .cross_fit import FitOptions, fit_cross_encoder, publish, sample, spec_hash
from .split import held_out_groups, pair_group

DEFAULT_BAND = 0.8  # --critic-threshold: confident at ≥ 0.8 (keep) and ≤ 0.2 (drop)


def critic_pair(a_title: str | None, b_title: str | None, relation: str | None, text: str) -> tuple[str, str]:
    """What the critic reads: the pair, then the relation and the intention (as the filter is shown them)."""
    return f"{a_title or 'product A'} and {b_title or 'product B'}", f"{relation or 'related'}: {strip_boilerplate(text)}"


class HumanLabel(BaseModel):
    """One human judgement of an intention: `plausible` yes/no (true/false, 1/0)."""

    intention: Key
    plausible: bool


class Labelled(BaseModel):
    intention: str
    group: str
    query: str
    candidate: str
    label: bool
    human: bool = False


class CriticOptions(FitOptions):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    epochs: int = Field(default=2, ge=1, le=100)
    held_out: float = Field(default=0.2, gt=0, lt=1)
    human_weight: int = Field(default=3, ge=1, le=100)
    band: float = Field(default=DEFAULT_BAND, gt=0.5, lt=1)


class Band(BaseModel):
    threshold: float
    decided: int  # held-out intentions the critic alone decides (score ≥ threshold or ≤ 1 − threshold)
    calls_saved: float  # their share: filter calls a run with --critic-threshold would not make
    agreement: float | None  # how often those verdicts agree with the filter's


class CriticReport(BaseModel):
    name: str
    path: str
    kind: str = "critic"
    base: str
    options: CriticOptions
    labelled: int
    human: int
    positive_share: float
    train: int
    held_out: int
    held_out_products: int
    accuracy: float
    roc_auc: float | None
    majority: float
    bands: list[Band]
    train_seconds: float
    seconds: float

    def lines(self) -> list[str]:
        out = [
            f"trained critic {self.name} from {self.base} on {self.train:,} labelled intentions ({self.human:,} human, the rest the filter's verdicts; "
            f"{self.positive_share:.0%} plausible) in {self.train_seconds:.0f}s",
            f"held out {self.held_out:,} intentions ({self.held_out_products:,} products none of the training pairs has):",
            f"  accuracy {self.accuracy:.4f} (majority class {self.majority:.4f}), ROC AUC {self.roc_auc if self.roc_auc is None else round(self.roc_auc, 4)}",
        ]
        for b in self.bands:
            agree = "-" if b.agreement is None else f"{b.agreement:.1%}"
            out.append(
                f"  --critic-threshold {b.threshold}: decides {b.decided:,} ({b.calls_saved:.1%} of filter calls saved), agreeing with the filter on {agree}"
            )
        out.append(f"saved to {self.path}; use it with `intentkb generate mind --critic {self.name}`")
        return out


def read_human(path: Path, echo: Callable[[str], None] | None = None, rejects_path: Path | None = None) -> dict[str, bool]:
    """Human judgements by intention id; bad rows go to a rejects file with their line."""
    sink = RejectSink(rejects_path or user_rejects_path(path, "human"), path, echo)
    records = csv_records(path, ()) if base_suffix(path) == ".csv" else jsonl_records(path, ())
    try:
        return {row.intention: row.plausible for _, row, _ in validated(records, HumanLabel, sink)}
    finally:
        sink.close()


def labelled_intentions(store: GraphStore, human: dict[str, bool]) -> list[Labelled]:
    """Co-buy intentions with a verdict (the filter's, or a human's, which wins)."""
    out = []
    for rows in keyset_pages(store, "task_iqa_cobuy_page", 2000):
        for r in rows:
            label = human.get(r["id"], r["accepted"])
            if r["a"] is None or r["b"] is None or label is None or not r["text"]:
                continue
            q, c = critic_pair(r["a_title"], r["b_title"], r["relation"], r["text"])
            out.append(Labelled(intention=r["id"], group=pair_group(r["a"], r["b"]), query=q, candidate=c, label=bool(label), human=r["id"] in human))
    return out


def band(scores: list[float], labels: list[bool], threshold: float) -> Band:
    sure = [(s >= threshold, y) for s, y in zip(scores, labels) if s >= threshold or s <= 1 - threshold]
    return Band(
        threshold=threshold,
        decided=len(sure),
        calls_saved=round(len(sure) / len(scores), 4) if scores else 0.0,
        agreement=round(sum(p == y for p, y in sure) / len(sure), 4) if sure else None,
    )


def train_critic(
    store: GraphStore, settings: Settings, opts: CriticOptions, *, human: Path | None = None, echo: Callable[[str], None] | None = None, progress: bool = True
) -> CriticReport:
    """Fine-tune the critic into models/NAME and measure it on held-out products."""
    with owner_only():
        return _train(store, settings, opts, human, echo or (lambda _m: None), progress)


def _train(store: GraphStore, settings: Settings, opts: CriticOptions, human: Path | None, say: Callable[[str], None], progress: bool) -> CriticReport:
    from sklearn.metrics import roc_auc_score

    started = time.monotonic()
    judged = read_human(human, say) if human else {}
    data = labelled_intentions(store, judged)
    held = held_out_groups((x.group for x in data), opts.held_out)
    train = [x for x in data if x.group not in held]
    test = [x for x in data if x.group in held]
    if len(train) < opts.batch_size or not test or len({x.label for x in train}) < 2:
        raise IntentKBError(
            f"{len(data)} co-buy intentions carry a verdict ({len(train)} to train on, {len(test)} held out); the critic needs both "
            "verdicts among at least one batch: ingest co-buy records with their filter answers, or run `generate mind` with its filter"
        )
    rows = sample([(x.query, x.candidate, 1.0 if x.label else 0.0) for x in train for _ in range(opts.human_weight if x.human else 1)], opts)
    say(f"{len(train):,} labelled intentions to learn from, {len(test):,} held out")
    work = settings.models_dir / f"{opts.name}.work"
    spec = spec_hash(DEFAULT_MODEL, opts.model_dump(exclude={"save_steps"}), rows=rows)
    _, trained_s = fit_cross_encoder(DEFAULT_MODEL, rows, opts, work, spec, settings, progress, say)
    critic = Reranker(work / "final", **reranker_options(settings))
    scores = critic.score([(x.query, x.candidate) for x in test]).tolist()
    labels = [x.label for x in test]
    pos = sum(labels) / len(labels)
    report = CriticReport(
        name=opts.name,
        path=str(settings.models_dir / opts.name),
        base=model_key(DEFAULT_MODEL),
        options=opts,
        labelled=len(data),
        human=sum(x.human for x in data),
        positive_share=round(sum(x.label for x in data) / len(data), 4),
        train=len(train),
        held_out=len(test),
        held_out_products=len({p for x in test for p in x.group.split("|")}),
        accuracy=round(sum((s >= 0.5) == y for s, y in zip(scores, labels)) / len(labels), 4),
        roc_auc=round(float(roc_auc_score(labels, scores)), 4) if 0 < pos < 1 else None,
        majority=round(max(pos, 1 - pos), 4),
        bands=[band(scores, labels, t) for t in sorted({0.6, 0.7, 0.8, 0.9, opts.band})],
        train_seconds=round(trained_s, 1),
        seconds=round(time.monotonic() - started, 1),
    )
    publish(work, settings.models_dir, opts.name, {"fingerprint": uuid.uuid4().hex[:12], **report.model_dump(mode="json")})
    return report
