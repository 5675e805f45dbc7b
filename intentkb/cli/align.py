"""`intentkb align steps`: link script steps to intentions by embedding similarity."""

from __future__ import annotations

import click

from ..kb.engines import open_store
from .common import settings_of
from .output import print_report, report_format


@click.group("align")
def align_group() -> None:
    """Link graph nodes by embedding similarity."""


@align_group.command("steps")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=0.45, show_default=True, help="Least cosine similarity (EcomScriptBench: 0.45).")
@click.option("-k", "--top-k", "top_k", type=click.IntRange(1, 1000), default=10, show_default=True, help="At most this many intentions per step.")
@click.option("--script", "scripts", multiple=True, help="Only the steps of these scripts (repeatable).")
@report_format
@click.pass_context
def align_steps_cmd(ctx: click.Context, threshold: float, top_k: int, scripts: tuple[str, ...], as_json: bool) -> None:
    """Write (Step)-[:ALIGNED {score}]->(Intention) for each step's closest intentions.

    \b
    Example:
      intentkb index build && intentkb align steps --threshold 0.45 --top-k 10
      intentkb cypher "MATCH (c:Script)-[:HAS_STEP]->(s)-[a:ALIGNED]->(i)-[:EXPLAINS]->(p:Product) RETURN s.text, a.score, p.title LIMIT 10"
    """
    from ..retrieval.align import align_steps

    with open_store(settings_of(ctx)) as store:
        report = align_steps(store, settings_of(ctx), threshold=threshold, top_k=top_k, scripts=list(scripts) or None, progress=True)
    print_report(report, as_json)
