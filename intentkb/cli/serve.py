"""`intentkb serve`: retrieval and read-only Cypher over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from .common import refuse_if_open, server_token, settings_of


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
@click.option(
    "--rerank",
    metavar="NAME_OR_PATH",
    help="Re-order every retrieval's first candidates with this cross-encoder (`intentkb train reranker`); a request's `rerank: false` skips it.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port and the index files (mapped read-only), each with its own batching queue.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    token_file: Path | None,
    token_arg: str | None,
    max_body: int,
    max_rows: int,
    max_response: int,
    max_queries: int,
    rerank: str | None,
    workers: int,
) -> None:
    """Serve retrieval and read-only Cypher over HTTP, the model and indexes loaded once.

    Routes: POST /retrieve, GET /scripts/{id}/products, POST /cypher (read-only), GET /health;
    OpenAPI docs at /docs. `intentkb retrieve` uses a running server of the same graph.

    \b
    Example:
      intentkb serve --port 8765
      curl -s localhost:8765/retrieve -H 'Content-Type: application/json' -d '{"text": "keep coffee hot on the commute", "k": 5}'
    """
    from ..retrieval.rerank import reranker_location
    from ..serve.limits import ApiLimits
    from ..serve.running import serve as run_server

    token = server_token(token_file, token_arg, "INTENTKB_SERVE_TOKEN")
    reranker = str(reranker_location(settings_of(ctx), rerank)) if rerank else None  # refused before anything starts
    if settings_of(ctx).vector_backend == "graph" and settings_of(ctx).embedded:
        raise click.UsageError("INTENTKB_VECTOR_BACKEND=graph needs a Neo4j store (INTENTKB_GRAPH_URI=bolt://…); the embedded store searches with faiss")
    refuse_if_open(host, token)
    procs = f", {workers} worker processes" if workers > 1 else ""
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"intentkb serve on http://{shown}:{port} (graph {settings_of(ctx).graph_name}{procs}); Ctrl-C stops it", err=True)
    limits = ApiLimits(max_body=max_body, max_rows=max_rows, max_response=max_response, max_queries=max_queries)
    run_server(settings_of(ctx), host=host, port=port, token=token, limits=limits, reranker=reranker, workers=workers)
