"""`intentkb mcp`: the knowledge base as a Model Context Protocol server, for LLM agents."""

from __future__ import annotations

from pathlib import Path

import click

from .common import server_token, settings_of


def _address(value: str | None) -> tuple[str, int] | None:
    """HOST:PORT with HOST an IP address or localhost ([::1]:PORT for IPv6)."""
    import ipaddress

    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ok = bool(sep) and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535 and (host == "localhost" or bool(ipaddress.ip_address(host)))
    except ValueError:
        ok = False
    if not ok:
        raise click.BadParameter(f"{value!r} is not HOST:PORT with HOST an IP address or localhost (e.g. 127.0.0.1:8766, [::1]:8766)", param_hint="--http")
    return host, int(port)


@click.command("mcp")
@click.option("--http", "http", metavar="HOST:PORT", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (127.0.0.1: this machine only).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --http: require `Authorization: Bearer TOKEN`, TOKEN read from this file (or set INTENTKB_MCP_TOKEN; never on the command line).",
)
@click.option("--token", "token_arg", hidden=True, help="Refused: a token in argv shows in `ps`.")
@click.option(
    "--max-tokens",
    type=click.IntRange(1_000, 1_000_000),
    default=10_000,
    show_default=True,
    help="An answer's size limit in tokens (about 4 characters each); longer lists are cut, and the answer says so.",
)
@click.option("--max-rows", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True, help="Rows a Cypher query may return before it is refused.")
@click.option("--timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True, help="Seconds a Cypher query may run.")
@click.option(
    "--rerank", metavar="NAME_OR_PATH", help="Re-order retrievals with this cross-encoder (`intentkb train reranker`); a call's rerank=false skips it."
)
@click.pass_context
def mcp_cmd(
    ctx: click.Context, http: str | None, token_file: Path | None, token_arg: str | None, max_tokens: int, max_rows: int, timeout: float, rerank: str | None
) -> None:
    """Serve the knowledge base to LLM agents over the Model Context Protocol (read-only tools).

    Tools: retrieve_products, products_for_script, explain_copurchase, session_trajectories,
    run_named_query, read_cypher, graph_schema, kb_status; resources intentkb://schema and
    intentkb://queries/{name}; prompt plan_purchases. Over stdio unless --http.

    \b
    Example:
      intentkb mcp --http 127.0.0.1:8766
      an MCP client's configuration, for stdio:
      {"mcpServers": {"intentkb": {"command": "intentkb", "args": ["mcp"], "env": {"INTENTKB_HOME": "/path/to/kb"}}}}
    """
    from ..mcp.http import run_http
    from ..mcp.server import run_stdio
    from ..mcp.tools import McpLimits
    from ..retrieval.rerank import reranker_location
    from ..serve.hosts import LOOPBACK

    settings = settings_of(ctx)
    address = _address(http)
    if token_file and address is None:
        raise click.UsageError("--token-file guards --http only: over stdio the client that launched the server is its only peer")
    token = server_token(token_file, token_arg, "INTENTKB_MCP_TOKEN") if address else None
    reranker = str(reranker_location(settings, rerank)) if rerank else None
    if settings.vector_backend == "graph" and settings.embedded:
        raise click.UsageError("INTENTKB_VECTOR_BACKEND=graph needs a Neo4j store (INTENTKB_GRAPH_URI=bolt://…); the embedded store searches with faiss")
    limits = McpLimits(max_tokens=max_tokens, max_rows=max_rows, timeout=timeout)
    if address is None:
        run_stdio(settings, limits=limits, reranker=reranker)
        return
    host, port = address
    if host not in LOOPBACK and not token:  # off loopback the Host and Origin checks cannot know the valid names
        raise click.UsageError(f"--http {host}: off loopback a token is required (--token-file FILE or INTENTKB_MCP_TOKEN)")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"intentkb mcp on http://{shown}:{port}/mcp (graph {settings.graph_name}); Ctrl-C stops it", err=True)
    run_http(settings, host, port, token=token, limits=limits, reranker=reranker)
