"""`intentkb retrieve`: products for a text or for each step of a script (through a running `serve` when there is one)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import IntentKBError
from ..kb.engines import open_store
from .common import settings_of
from .output import emit, print_format


def _retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None, rerank: str | None) -> tuple[list[Any], list[Any]]:
    """Hits for TEXT or the steps of a script: from a running `intentkb serve` of this graph when
    there is one (no model to load) that can rerank as asked, else here."""
    from ..kb.guard import need_text
    from ..retrieval.fusion import ProductHit, StepProducts
    from ..serve.running import call, find_server

    text, script = (need_text(text) if text else None), (need_text(script) if script else None)  # before a server or a model is asked
    settings = settings_of(ctx)
    if rerank:
        from ..retrieval.rerank import reranker_location

        wanted: str | None = str(reranker_location(settings, rerank))
    else:
        wanted = None
    found = find_server(settings)
    if found is not None and wanted in (None, found.reranker):  # the server reranks with this model, or is asked not to
        body: dict[str, Any] = {
            "k": k,
            **({"text": text} if text else {"script": script}),
            **({"threshold": threshold} if threshold is not None else {}),
            "rerank": wanted is not None,
        }
        out = call(found.url, "/retrieve", body, token=found.token)
        try:
            return ([ProductHit.model_validate(h) for h in out.get("products") or []], [StepProducts.model_validate(s) for s in out.get("steps") or []])
        except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
            raise IntentKBError(f"intentkb serve at {found.url} answered in a shape this intentkb does not read; stop it or restart it") from None
    from ..retrieval.rerank import Reranker, reranker_options  # the model and the index load here, not for a served answer
    from ..retrieval.retrieve import Retriever

    cross = Reranker(wanted, **reranker_options(settings)) if wanted else None
    with open_store(settings_of(ctx)) as store, Retriever(store, settings, reranker=cross) as r:
        if text:
            return r.retrieve(text, k, threshold=threshold), []
        if threshold is None:
            return [], r.retrieve_script(script or "", k)
        return [], r.retrieve_script(script or "", k, threshold=threshold)


def _hit_row(h: Any, rank: int | None = None) -> dict[str, Any]:
    """One retrieve hit as a table row: a co-buy pair on one row, weak matches marked as such."""
    title = f"{h.title}  +  {h.pair_title or h.pair}" if h.pair else h.title
    row = {"rank": rank} if rank is not None else {}
    sims = [h.rerank_score] if h.rerank_score is not None else [x for x in (h.intention_score, h.product_score) if x is not None]
    return {
        **row,
        "similarity": f"{max(sims):.2f}" if sims else "-",
        "match": ("weak: " if h.weak else "") + "+".join(h.paths),
        "product": h.product + (f" + {h.pair}" if h.pair else ""),
        "title": title,
        "why": h.why,
    }


@click.command()
@click.argument("text", required=False)
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Products per text or step.")
@click.option("--script", help="Products for every step of this script instead of TEXT.")
@click.option("--threshold", type=click.FloatRange(-1, 1), help="Least intention similarity (default: none for TEXT, 0.45 for unaligned steps).")
@click.option(
    "--rerank",
    metavar="NAME_OR_PATH",
    help="Re-order the first candidates with this cross-encoder (`intentkb train reranker -o NAME`); a hit it gives less than even odds is weak.",
)
@print_format
@click.pass_context
def retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None, rerank: str | None, fmt: str) -> None:
    """Products that serve TEXT (or each step of a script), through the intentions they explain.

    \b
    Example:
      intentkb retrieve "protect my laptop on the commute" -k 5
      intentkb retrieve --script c1a2b3... --format json

    With `intentkb serve` running on this graph, the server answers (no model to load here).

    The table ranks the products; `similarity` is the cosine (0 to 1) between your text and what
    led to the product (an intention it is bought for, or its own title and attributes). A match is
    `weak` when that is below the cut (0.45 for intentions; calibrated for product texts): a guess,
    listed after every strong match. `--format json` adds the fused ranking score and both cosines.
    With `--rerank`, `similarity` is the reranker's probability that the product serves the text.
    """
    if not text and not script:
        raise click.UsageError('give a need in words, or a script: intentkb retrieve "keep my coffee hot on the commute"  |  intentkb retrieve --script ID')
    if text and script:
        raise click.UsageError("give TEXT or --script, not both")
    hits, steps = _retrieve(ctx, text, k, script, threshold, rerank)
    if text:
        rows = [{"rank": i, **h.model_dump()} for i, h in enumerate(hits, start=1)]
        if fmt == "json":
            click.echo(json.dumps({"text": text, "products": rows}, ensure_ascii=False, indent=2))
        else:
            emit([_hit_row(h, rank=i) for i, h in enumerate(hits, start=1)], "table", width=48)
        return
    if fmt == "json":
        click.echo(json.dumps({"script": script, "steps": [s.model_dump() for s in steps]}, ensure_ascii=False, indent=2))
        return
    for s in steps:
        click.echo(f"\nstep {s.idx}: {s.text}  [{'aligned' if s.source == 'aligned' else 'searched now'}]")
        if s.products:
            emit([_hit_row(h) for h in s.products], "table", width=48)
        else:
            click.echo("  (no intention above the threshold leads to a product)")
