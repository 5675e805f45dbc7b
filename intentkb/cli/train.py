"""`intentkb train embedder|static|reranker|critic`: thin options over intentkb.training."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .common import comma_list, settings_of
from .output import print_report, report_format

F = TypeVar("F", bound=Callable[..., Any])


@click.group("train")
def train_group() -> None:
    """Learn from the knowledge base's own links."""


def _train(settings: Any, train: Callable[..., Any], opts: Any, as_json: bool) -> None:
    """Every `train` command: the options, the store, the report."""
    from ..kb.engines import open_store

    with open_store(settings) as store:
        report = train(store, settings, opts, echo=lambda m: click.echo(m, err=True))
    print_report(report, as_json)


def _name(default: str, use: str) -> Callable[[F], F]:
    return click.option("-o", "--output", "name", default=default, show_default=True, help=f"Model NAME: saved to $INTENTKB_HOME/models/NAME; {use}.")


def _epochs(default: int, what: str) -> Callable[[F], F]:
    return click.option("--epochs", type=click.IntRange(1, 100), default=default, show_default=True, help=f"Passes over the {what}.")


def _learning_rate(default: float) -> Callable[[F], F]:
    return click.option("--learning-rate", type=float, default=default, show_default=True, help="AdamW peak learning rate (10 % warm-up).")


_held_out = click.option(
    "--held-out",
    type=click.FloatRange(0.01, 0.9),
    default=0.2,
    show_default=True,
    help="Share of co-bought products held out, whole groups of co-bought products (none on both sides); the questions are about them.",
)
_kinds = click.option(
    "--kinds",
    default="cobuy,purchase,step",
    show_default=True,
    help="Links to learn from: cobuy (pair ↔ intention, intention ↔ products), purchase (intention ↔ product), step (step ↔ aligned intention).",
)
_step_min_score = click.option(
    "--step-min-score", type=click.FloatRange(-1, 1), default=0.6, show_default=True, help="Least ALIGNED score for a step ↔ intention link to train on."
)
_questions = click.option(
    "--questions",
    "max_questions",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="At most this many held-out questions per task, scored before and after.",
)
_max_examples = click.option("--max-examples", type=click.IntRange(2), help="Train on a seeded sample of at most this many pairs (a quick run).")


@train_group.command("embedder")
@_name("intentkb-minilm", "select it with INTENTKB_EMBEDDING_MODEL=NAME")
@_epochs(1, "training links")
@click.option(
    "--batch-size",
    type=click.IntRange(2, 1024),
    default=32,
    show_default=True,
    help="Links per batch; each anchor's negatives are the batch's other positives.",
)
@_learning_rate(5e-5)
@_kinds
@_held_out
@_step_min_score
@_questions
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler, the initialisation and the questions.")
@report_format
@click.pass_context
def train_embedder_cmd(
    ctx: click.Context,
    name: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    kinds: str,
    held_out: float,
    step_min_score: float,
    max_questions: int,
    seed: int,
    as_json: bool,
) -> None:
    """Fine-tune the embedding model on the graph's links (MultipleNegativesRankingLoss) and
    score it before and after on IntentionQA-style questions about held-out product pairs.
    An interrupted run started again with the same options resumes from its last checkpoint.

    \b
    Example:
      intentkb train embedder --epochs 1 -o shop-minilm
      INTENTKB_EMBEDDING_MODEL=shop-minilm intentkb index build --rebuild
    """
    from ..training.embedder import TrainOptions, train_embedder

    settings = settings_of(ctx)
    opts = TrainOptions(
        name=name,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        kinds=comma_list(kinds),
        held_out=held_out,
        step_min_score=step_min_score,
        max_questions=max_questions,
        seed=seed,
    )
    _train(settings, train_embedder, opts, as_json)


@train_group.command("reranker")
@_name("intentkb-reranker", "use it with `retrieve --rerank NAME` or `eval mcq --scorer rerank --reranker NAME`")
@_epochs(1, "training pairs")
@click.option("--batch-size", type=click.IntRange(2, 1024), default=32, show_default=True, help="(query, candidate) pairs per batch.")
@_learning_rate(4e-5)
@click.option(
    "--negatives",
    type=click.IntRange(0, 20),
    default=1,
    show_default=True,
    help="Hard negatives per anchor: wrong candidates the current embedder ranks highest.",
)
@click.option(
    "--random-negatives",
    type=click.IntRange(0, 20),
    default=1,
    show_default=True,
    help="Unrelated candidates per anchor, so that the model also learns what is plainly wrong.",
)
@_kinds
@_held_out
@_step_min_score
@_questions
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the negatives, the sampler and the questions.")
@_max_examples
@report_format
@click.pass_context
def train_reranker_cmd(
    ctx: click.Context,
    name: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    negatives: int,
    random_negatives: int,
    kinds: str,
    held_out: float,
    step_min_score: float,
    max_questions: int,
    seed: int,
    max_examples: int | None,
    as_json: bool,
) -> None:
    """Fine-tune a cross-encoder reranker on the graph's links with hard negatives mined by the
    current embedder, and score it beside the embedder on IntentionQA-style questions about
    held-out products. An interrupted run started again with the same options resumes.

    \b
    Example:
      intentkb train reranker -o shop-reranker
      intentkb retrieve "keep my feet warm on winter hikes" --rerank shop-reranker
    """
    from ..training.reranker import RerankOptions, train_reranker

    settings = settings_of(ctx)
    opts = RerankOptions(
        name=name,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        negatives=negatives,
        random_negatives=random_negatives,
        kinds=comma_list(kinds),
        held_out=held_out,
        step_min_score=step_min_score,
        max_questions=max_questions,
        seed=seed,
        max_examples=max_examples,
    )
    _train(settings, train_reranker, opts, as_json)


@train_group.command("critic")
@_name("intentkb-critic", "use it with `intentkb generate mind --critic NAME`")
@_epochs(2, "labelled intentions")
@click.option("--batch-size", type=click.IntRange(2, 1024), default=32, show_default=True, help="Labelled intentions per batch.")
@_learning_rate(5e-5)
@_held_out
@click.option(
    "--human",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Human judgements (CSV or JSON Lines: intention, plausible yes/no); they override the filter's verdict and weigh more.",
)
@click.option("--human-weight", type=click.IntRange(1, 100), default=3, show_default=True, help="How many times a human judgement counts in training.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler and the initialisation.")
@_max_examples
@report_format
@click.pass_context
def train_critic_cmd(
    ctx: click.Context,
    name: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    held_out: float,
    human: Path | None,
    human_weight: int,
    seed: int,
    max_examples: int | None,
    as_json: bool,
) -> None:
    """Fine-tune a critic that scores how plausible an intention is for its co-bought pair, from
    the role-aware filter's verdicts in the graph (and human judgements, when given); report its
    accuracy and ROC AUC on held-out products, and the filter calls a --critic-threshold saves.

    \b
    Example:
      intentkb train critic -o shop-critic
      OPENAI_BASE_URL=http://localhost:8000/v1 intentkb generate mind --critic shop-critic --critic-threshold 0.8
    """
    from ..training.critic import CriticOptions, train_critic

    settings = settings_of(ctx)
    opts = CriticOptions(
        name=name,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        held_out=held_out,
        human_weight=human_weight,
        seed=seed,
        max_examples=max_examples,
    )
    _train(settings, functools.partial(train_critic, human=human), opts, as_json)


@train_group.command("static")
@_name("intentkb-static", "select it with INTENTKB_EMBEDDING_MODEL=NAME")
@click.option(
    "--from",
    "teacher",
    help="The sentence-transformers model to distil: a name, a path or a model trained here (default: the embedding model of the settings).",
)
@click.option("--dims", type=click.IntRange(8, 4096), default=256, show_default=True, help="Dimensions of the token vectors (PCA of the teacher's).")
@click.option("--epochs", type=click.IntRange(0, 100), default=3, show_default=True, help="Passes over the training links after distilling (0: distil only).")
@click.option(
    "--batch-size",
    type=click.IntRange(2, 8192),
    default=256,
    show_default=True,
    help="Links per batch; each anchor's negatives are the batch's other positives.",
)
@_learning_rate(0.05)
@_kinds
@_held_out
@_step_min_score
@_questions
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler and the questions.")
@report_format
@click.pass_context
def train_static_cmd(
    ctx: click.Context,
    name: str,
    teacher: str | None,
    dims: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    kinds: str,
    held_out: float,
    step_min_score: float,
    max_questions: int,
    seed: int,
    as_json: bool,
) -> None:
    """Distil a static embedder (a vector per token, averaged: no network at query time) from a
    sentence-transformers model with model2vec, fine-tune it on the graph's links, and score the
    teacher, the distilled and the fine-tuned model on IntentionQA-style questions about held-out
    products.

    \b
    Example:
      intentkb train static -o shop-static
      INTENTKB_EMBEDDING_MODEL=shop-static intentkb index build --rebuild
    """
    from ..training.static import StaticOptions, train_static

    settings = settings_of(ctx)
    opts = StaticOptions(
        name=name,
        teacher=teacher,
        dims=dims,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        kinds=comma_list(kinds),
        held_out=held_out,
        step_min_score=step_min_score,
        max_questions=max_questions,
        seed=seed,
    )
    _train(settings, train_static, opts, as_json)
