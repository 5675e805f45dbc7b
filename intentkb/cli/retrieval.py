"""`intentkb index build`, `align steps`, `retrieve`, `serve`: the embedding indexes and what is found through them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ..kb.engines import open_store
from .common import LazyChoice, settings_of
from .output import emit, print_format, print_report, report_format


@click.group("index")
def index_group() -> None:
    """FAISS indexes over intentions, script steps and product texts, kept beside the graph."""


@index_group.command("build")
@click.option("--only", type=LazyChoice("intentkb.retrieval.build", "SOURCES"), multiple=True, help="Build only this index (repeatable).")
@click.option("--rebuild", is_flag=True, help="Build from scratch (needed after changing the embedding model).")
@report_format
@click.pass_context
def index_build(ctx: click.Context, only: tuple[str, ...], rebuild: bool, as_json: bool) -> None:
    """Embed new and changed texts, drop deleted ones, save the indexes.

    \b
    Example:
      intentkb index build
      INTENTKB_EMBEDDING_MODEL=/models/e5-small intentkb index build --rebuild
    """
    from ..retrieval.build import build_indexes

    with open_store(settings_of(ctx)) as store:
        reports = build_indexes(store, settings_of(ctx), list(only) or None, rebuild=rebuild, progress=True, echo=lambda m: click.echo(m, err=True))
    print_report(reports, as_json)


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


def _retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None) -> tuple[list[Any], list[Any]]:
    """Hits for TEXT or the steps of a script: from a running `intentkb serve` of this graph when
    there is one (no model to load), else here."""
    from ..retrieval.fusion import ProductHit
    from ..retrieval.retrieve import Retriever, StepProducts
    from ..serve.running import call, find_server

    settings = settings_of(ctx)
    found = find_server(settings)
    if found is not None:
        body: dict[str, Any] = {"k": k, **({"text": text} if text else {"script": script}), **({"threshold": threshold} if threshold is not None else {})}
        out = call(found.url, "/retrieve", body, token=found.token)
        return ([ProductHit.model_validate(h) for h in out.get("products") or []], [StepProducts.model_validate(s) for s in out.get("steps") or []])
    with open_store(settings_of(ctx)) as store, Retriever(store, settings) as r:
        if text:
            return r.retrieve(text, k, threshold=threshold), []
        return [], r.retrieve_script(script or "", k, **({"threshold": threshold} if threshold is not None else {}))


def _hit_row(h: Any, rank: int | None = None) -> dict[str, Any]:
    """One retrieve hit as a table row: a co-buy pair on one row, weak matches marked as such."""
    title = f"{h.title}  +  {h.pair_title or h.pair}" if h.pair else h.title
    row = {"rank": rank} if rank is not None else {}
    sims = [x for x in (h.intention_score, h.product_score) if x is not None]
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
@print_format
@click.pass_context
def retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None, fmt: str) -> None:
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
    """
    if not text and not script:
        raise click.UsageError('give a need in words, or a script: intentkb retrieve "keep my coffee hot on the commute"  |  intentkb retrieve --script ID')
    if text and script:
        raise click.UsageError("give TEXT or --script, not both")
    hits, steps = _retrieve(ctx, text, k, script, threshold)
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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="TCP port to listen on.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Require `Authorization: Bearer TOKEN`, TOKEN read from this file (or set INTENTKB_SERVE_TOKEN; never on the command line).",
)
@click.option("--token", "token_arg", hidden=True, help="Refused: a token in argv shows in `ps`.")
@click.option("--max-body", type=click.IntRange(1, 1 << 30), default=1_000_000, show_default=True, help="Bytes a request body may have (413 past it).")
@click.option("--max-rows", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True, help="Rows a /cypher answer may have (422 past it).")
@click.option("--max-response", type=click.IntRange(1, 1 << 31), default=10_000_000, show_default=True, help="Bytes any answer may have (422 past it).")
@click.option("--max-queries", type=click.IntRange(1, 1000), default=8, show_default=True, help="/cypher requests in progress at once (429 past it).")
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, token_file: Path | None, token_arg: str | None, max_body: int, max_rows: int, max_response: int, max_queries: int
) -> None:
    """Serve retrieval and read-only Cypher over HTTP, the model and indexes loaded once.

    Routes: POST /retrieve, GET /scripts/{id}/products, POST /cypher (read-only), GET /health;
    OpenAPI docs at /docs. `intentkb retrieve` uses a running server of the same graph.

    \b
    Example:
      intentkb serve --port 8765
      curl -s localhost:8765/retrieve -H 'Content-Type: application/json' -d '{"text": "keep coffee hot on the commute", "k": 5}'
    """
    from ..serve.limits import ApiLimits
    from ..serve.running import serve as run_server

    if token_arg is not None:
        raise click.UsageError("--token VALUE is visible to every user in `ps`: put the token in a file (--token-file) or in INTENTKB_SERVE_TOKEN")
    token = token_file.read_text().strip() if token_file else os.environ.get("INTENTKB_SERVE_TOKEN") or None
    if token_file and not token:
        raise click.UsageError(f"{token_file} is empty")
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo(f"warning: listening on {host} without a token: anyone who reaches it can query the graph", err=True)
    click.echo(f"intentkb serve on http://{host}:{port} (graph {settings_of(ctx).graph_name}); Ctrl-C stops it", err=True)
    limits = ApiLimits(max_body=max_body, max_rows=max_rows, max_response=max_response, max_queries=max_queries)
    run_server(settings_of(ctx), host=host, port=port, token=token, limits=limits)
