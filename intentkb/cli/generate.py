"""`intentkb generate attributes|trees|mind|scripts`: thin options over `intentkb.llm.run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import Settings
from .output import report_format


def _common(f: Any) -> Any:
    opts = [
        click.option("--limit", type=click.IntRange(0), help="At most this many items (products, sessions, pairs×relations…)."),
        click.option("--concurrency", type=click.IntRange(1, 4096), help="Requests in flight (env INTENTKB_LLM_CONCURRENCY, default 32)."),
        click.option("--model", help="Model name (env INTENTKB_LLM_MODEL, default gpt-4o-mini)."),
        click.option(
            "--prompts",
            "prompts_dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Directory of your own prompt templates (same file names as intentkb/llm/prompts and intentkb/tasks/templates).",
        ),
        click.option("--multimodal", type=click.Choice(["auto", "on", "off"]), help="Send product images as image parts (auto: by model name)."),
        click.option(
            "--output",
            "--llm-output",
            "llm_output",
            type=click.Choice(["auto", "json", "lines"]),
            help="How replies are asked for: json (each template's reply model as a JSON-schema response_format), "
            "lines (the papers' line formats) or auto (json; lines for the rest of the run if the endpoint "
            "refuses response_format). Env INTENTKB_LLM_OUTPUT, default auto.",
        ),
        click.option("--batch", is_flag=True, help="Use the OpenAI Batch API (half price, results within 24 h); resumable."),
        click.option("--dry-run", is_flag=True, help="Print the number of calls and the estimated tokens and cost; call nothing, write nothing."),
    ]
    for o in reversed(opts):
        f = o(f)
    return report_format(f)


def _run(
    ctx: click.Context,
    pipeline: str,
    *,
    limit: int | None,
    concurrency: int | None,
    model: str | None,
    prompts_dir: Path | None,
    multimodal: str | None,
    llm_output: str | None,
    batch: bool,
    dry_run: bool,
    as_json: bool,
    **options: Any,
) -> None:
    from ..llm.run import GenOptions, run_generation
    from ..llm.settings import LLMSettings

    settings: Settings = ctx.find_object(Settings) or Settings()
    update: dict[str, Any] = {
        k: v
        for k, v in (("concurrency", concurrency), ("model", model), ("prompts_dir", prompts_dir), ("multimodal", multimodal), ("output", llm_output))
        if v is not None
    }
    llm = LLMSettings().model_copy(update=update)
    opts = GenOptions(limit=limit, batch=batch, dry_run=dry_run, **options)
    record = run_generation(pipeline, settings, llm, opts, echo=lambda s: click.echo(s, err=True))
    if as_json:
        click.echo(record.model_dump_json(indent=2))
        return
    for line in record.lines():
        click.echo(line)
    if any(s.rejected for s in record.stages):
        click.echo("some items were rejected: run the same command again to retry them (replies obtained so far are cached)")


@click.group("generate")
def generate_group() -> None:
    """Generate knowledge with an LLM (any OpenAI-compatible endpoint): resumable, cached, concurrent.

    \b
    Endpoint: OPENAI_API_KEY, OPENAI_BASE_URL (vLLM, Ollama, llama.cpp …), INTENTKB_LLM_MODEL.
    Every reply is cached (DATA_DIR/llm_cache.sqlite); a stopped run continues where it stopped.
    """


@generate_group.command("attributes")
@_common
@click.option("--all-products", is_flag=True, help="Every product, not only those viewed in sessions.")
@click.pass_context
def gen_attributes(ctx: click.Context, all_products: bool, **kw: Any) -> None:
    """SessionIntentBench step 1: category and `name: value` attributes of each product.

    \b
    Example:
      intentkb generate attributes --dry-run
    """
    _run(ctx, "attributes", all_products=all_products, **kw)


@generate_group.command("trees")
@_common
@click.option("--session", "sessions", multiple=True, help="Only these sessions (repeatable).")
@click.option("--roots", type=click.IntRange(1, 20), default=1, show_default=True, help="Intentions at step 1.")
@click.option("--width", type=click.IntRange(1, 20), default=5, show_default=True, help="Children per intention while branching.")
@click.option(
    "--branch-until", type=click.IntRange(1, 100), default=4, show_default=True, help="Branch while the child's step ≤ this; one child per intention after."
)
@click.pass_context
def gen_trees(ctx: click.Context, sessions: tuple[str, ...], roots: int, width: int, branch_until: int, **kw: Any) -> None:
    """SessionIntentBench: an intention tree per session (intention, valued attribute, rationale,
    comparison at every node). Run `generate attributes` first: the prompts show them.

    \b
    Example:
      intentkb generate trees --limit 100 --concurrency 64
    """
    from ..kb.schedule import BranchingSchedule

    _run(ctx, "trees", sessions=list(sessions), schedule=BranchingSchedule(roots=roots, width=width, branch_until=branch_until), **kw)


@generate_group.command("mind")
@_common
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(["features", "intentions", "filter"]),
    help="Only these stages (repeatable; default all three, in order).",
)
@click.option("--relation", "relations", multiple=True, help="Only these MIND relations (repeatable; default all 20).")
@click.pass_context
def gen_mind(ctx: click.Context, stages: tuple[str, ...], relations: tuple[str, ...], **kw: Any) -> None:
    """MIND: product features, one co-buy intention per relation for each co-bought pair, and the
    role-aware filter (accepted + reason). Preserve rates per relation: `intentkb stats`.

    \b
    Example:
      intentkb generate mind --relation usedFor --relation capableOf --dry-run
    """
    from ..kb.models import Relation

    try:
        rels = [Relation.parse(r) for r in relations]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--relation") from None
    _run(ctx, "mind", stages=stages or ("features", "intentions", "filter"), relations=rels, **kw)


@generate_group.command("scripts")
@_common
@click.option(
    "--from",
    "source",
    type=click.Choice(["products", "categories"]),
    default="products",
    show_default=True,
    help="Make objectives from each product or from each product category.",
)
@click.option("--category", "categories", multiple=True, help="With --from categories: only this category (repeatable).")
@click.option("--per-source", type=click.IntRange(1, 20), default=2, show_default=True, help="Objectives (scripts) per product or category.")
@click.option(
    "--intentions", "intentions_per_product", type=click.IntRange(0, 50), default=5, show_default=True, help="Purchase intentions per product (0: none)."
)
@click.pass_context
def gen_scripts(ctx: click.Context, source: str, categories: tuple[str, ...], per_source: int, intentions_per_product: int, **kw: Any) -> None:
    """EcomScriptBench: objectives and step scripts from products or categories, and purchase
    intentions per product. Then `intentkb index build` and `intentkb align steps` link them.

    \b
    Example:
      intentkb generate scripts --from categories --per-source 3
    """
    if categories and source != "categories":
        raise click.BadParameter("--category needs --from categories", param_hint="--category")
    _run(ctx, "scripts", source=source, categories=list(categories), per_source=per_source, intentions_per_product=intentions_per_product, **kw)
