"""`intentkb cypher`: Cypher text or a named query, read-only unless --write."""

from __future__ import annotations

import json
from typing import Any

import click

from ..kb.engines import open_store
from .common import settings_of
from .output import FORMATS, emit


def _parse_param(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip().isidentifier():
        raise click.BadParameter(f"expected key=value, got {raw!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
    except RecursionError:
        raise click.BadParameter(f"{key.strip()}: value nested too deeply") from None


@click.command("cypher")
@click.argument("query", required=False)
@click.option("-p", "--param", "params", multiple=True, help="Parameter key=value (value read as JSON when it parses, else text).")
@click.option("--write", is_flag=True, help="Allow the query to write. Without it the server refuses writes.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Print the rows as a table, JSON or CSV.")
@click.option("--list", "list_names", is_flag=True, help="List the named queries with their parameters.")
@click.option("--all", "list_all", is_flag=True, help="With --list: also the queries intentkb's own pipelines run.")
@click.option("--timeout", type=click.FloatRange(0.001, 86_400), help="Seconds the query may run (default INTENTKB_QUERY_TIMEOUT, 30).")
@click.pass_context
def cypher_cmd(
    ctx: click.Context, query: str | None, params: tuple[str, ...], write: bool, fmt: str, list_names: bool, list_all: bool, timeout: float | None
) -> None:
    """Run Cypher text or a named query (read-only unless --write).

    \b
    Example:
      intentkb cypher "MATCH (p:Product) RETURN p.id, p.title LIMIT 5"
      intentkb cypher trajectory_details -p session=demo-skate --format json
      intentkb cypher pair_cobuy_intentions -p a=B005QXX0MG -p b=B00PYV5HGC -p relation=null -p accepted_only=false
    """
    from .. import cypher

    if list_names:
        shown = [n for n in cypher.names() if list_all or not cypher.is_internal(n)]
        rows = [{"query": n, "parameters": " ".join("$" + p for p in cypher.parameters(cypher.load(n))), "what": cypher.summary(n)} for n in shown]
        emit(rows, fmt, width=200)  # the "what" column whole
        if not list_all and fmt == "table":
            click.echo(f"{len(cypher.names()) - len(shown)} more that intentkb's own pipelines run: --list --all")
        return
    if not query:
        raise click.UsageError("give a query (Cypher text or a name from --list)")
    given = dict(_parse_param(p) for p in params)
    cypher.check_parameters(query, given)
    with open_store(settings_of(ctx)) as store:
        rows = store.run(query, given, write=write, timeout=timeout or settings_of(ctx).query_timeout)
    emit(rows, fmt)
