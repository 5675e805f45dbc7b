"""`intentkb train embedder`: thin options over intentkb.training."""

from __future__ import annotations

import click

from .common import comma_list, settings_of
from .output import print_report, report_format


@click.group("train")
def train_group() -> None:
    """Learn from the knowledge base's own links."""


@train_group.command("embedder")
@click.option(
    "-o",
    "--output",
    "name",
    default="intentkb-minilm",
    show_default=True,
    help="Model NAME: saved to $INTENTKB_HOME/models/NAME; select it with INTENTKB_EMBEDDING_MODEL=NAME.",
)
@click.option("--epochs", type=click.IntRange(1, 100), default=1, show_default=True, help="Passes over the training links.")
@click.option(
    "--batch-size",
    type=click.IntRange(2, 1024),
    default=32,
    show_default=True,
    help="Links per batch; each anchor's negatives are the batch's other positives.",
)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True, help="AdamW peak learning rate (10 % warm-up).")
@click.option(
    "--kinds",
    default="cobuy,purchase,step",
    show_default=True,
    help="Links to learn from: cobuy (pair ↔ intention), purchase (intention ↔ product), step (step ↔ aligned intention).",
)
@click.option(
    "--held-out",
    type=click.FloatRange(0.01, 0.9),
    default=0.2,
    show_default=True,
    help="Share of co-buy product pairs kept out of training and used for the before/after questions.",
)
@click.option(
    "--step-min-score", type=click.FloatRange(-1, 1), default=0.6, show_default=True, help="Least ALIGNED score for a step ↔ intention link to train on."
)
@click.option(
    "--questions",
    "max_questions",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="At most this many held-out questions per task, scored before and after.",
)
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
    from ..kb.engines import open_store
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
    with open_store(settings) as store:
        report = train_embedder(store, settings, opts, echo=lambda m: click.echo(m, err=True))
    print_report(report, as_json)
