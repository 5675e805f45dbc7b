"""The `intentkb` command: the group, `init`, `demo`; each other command group is its own module, and each engine adds its own (kb/<engine>/cli.py)."""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..config import Settings
from ..errors import IntentKBError
from ..kb.engines import open_store
from .common import settings_of


class _Group(click.Group):
    """Library errors become one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IntentKBError as e:
            from ..private import redact

            raise click.ClickException(redact(str(e), [os.environ.get("OPENAI_API_KEY", "")])) from e


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="intentkb")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="INTENTKB_HOME", help="Knowledge base directory (env INTENTKB_HOME, default ~/.intentkb).")
@click.option("--graph-uri", envvar="INTENTKB_GRAPH_URI", help="'embedded' (default) or bolt://host:7687 for Neo4j (env INTENTKB_GRAPH_URI).")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, graph_uri: str | None) -> None:
    """Build, store and query a knowledge graph of e-commerce purchase intentions.

    \b
    Example:
      intentkb demo
      intentkb ingest cobuy crowdsourcing_integrate_4500_b1.csv
      intentkb cypher "MATCH (i:Intention) RETURN i.relation, count(*) AS n"
    """
    update: dict[str, Any] = {}
    if data_dir:
        update["data_dir"] = data_dir.expanduser()
    if graph_uri:
        update["graph_uri"] = graph_uri
    ctx.obj = Settings().model_copy(update=update)


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the data directory, start the store and set up its schema.

    \b
    Example:
      intentkb --data-dir ./kb init
    """
    with open_store(settings_of(ctx)) as store:
        store.setup_schema()
    click.echo(f"knowledge base ready in {settings_of(ctx).data_dir} ({store.kind} store)")


@cli.command()
@click.option(
    "--data-dir",
    "demo_dir",
    type=click.Path(path_type=Path),
    help="Where to build it (default: INTENTKB_HOME when set, else a temporary directory removed at the end).",
)
@click.option("--keep-server", is_flag=True, help="Leave the demo's server running for further queries.")
@click.pass_context
def demo(ctx: click.Context, demo_dir: Path | None, keep_server: bool) -> None:
    """Build a small knowledge base from bundled real data and hand-built trees, then query it.

    \b
    Example:
      intentkb demo --data-dir ./intentkb-demo --keep-server
    """
    from ..demo import run_demo

    if not settings_of(ctx).embedded:  # it used to build on the embedded store anyway, saying nothing
        raise click.UsageError(
            f"the demo builds on the embedded store, not on {settings_of(ctx).graph_uri}: unset INTENTKB_GRAPH_URI (or --graph-uri), "
            "or load the demo's files into Neo4j with `intentkb init` and `intentkb ingest` (docs: stores)"
        )
    chosen = ctx.parent.params.get("data_dir") if ctx.parent else None  # intentkb --data-dir DIR demo
    if demo_dir is None and (chosen or os.environ.get("INTENTKB_HOME")):
        demo_dir = settings_of(ctx).data_dir
    run_demo(demo_dir, keep_server=keep_server, echo=click.echo)


from ..kb.engines import commands as engine_commands  # noqa: E402
from .align import align_group  # noqa: E402
from .annotations import annotations_group  # noqa: E402
from .cypher import cypher_cmd  # noqa: E402
from .eval import eval_group  # noqa: E402
from .export import export_group  # noqa: E402
from .generate import generate_group  # noqa: E402
from .index import index_group  # noqa: E402
from .ingest import ingest  # noqa: E402
from .mcp import mcp_cmd  # noqa: E402
from .report import report_group  # noqa: E402
from .retrieve import retrieve  # noqa: E402
from .serve import serve  # noqa: E402
from .show import show_group  # noqa: E402
from .stats import stats  # noqa: E402
from .tasks import tasks_group  # noqa: E402
from .train import train_group  # noqa: E402
from .trajectories import trajectories  # noqa: E402

cli.add_command(ingest)
cli.add_command(index_group)
cli.add_command(align_group)
cli.add_command(retrieve)
cli.add_command(serve)
cli.add_command(mcp_cmd)
cli.add_command(eval_group)
cli.add_command(annotations_group)
cli.add_command(cypher_cmd)
cli.add_command(stats)
cli.add_command(trajectories)
cli.add_command(export_group)
cli.add_command(generate_group)
cli.add_command(tasks_group)
cli.add_command(show_group)
cli.add_command(train_group)
cli.add_command(report_group)


def _commands(group: click.Group) -> list[tuple[click.Group, str, click.Command]]:
    out = []
    for name, cmd in list(group.commands.items()):
        out.append((group, name, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd)
    return out


def _attach(module: str) -> None:
    """The engines' own commands (`store`, `export neo4j-import`), then plugins': a plugin may add
    commands, never replace one, at any depth, nor change the root's options (a change is undone,
    with a note, as a broken plugin's commands are left out)."""
    commands, params = _commands(cli), [(p, dict(vars(p))) for p in cli.params]
    try:
        import_module(module).attach(cli)
    except Exception as e:  # a broken plugin must not take the whole CLI down with it
        if module.startswith("intentkb."):
            raise
        click.echo(f"intentkb: the commands of plugin {module} were not loaded: {e}", err=True)
    taken = [(g, n, c) for g, n, c in commands if g.commands.get(n) is not c]
    for group, name, cmd in taken:
        group.commands[name] = cmd
    changed = [p.opts[0] if p.opts else str(p.name) for p, state in params if dict(vars(p)) != state]
    changed += ["the root options"] if [p for p, _ in params] != cli.params else []
    for p, state in params:
        vars(p).clear()
        vars(p).update(state)
    cli.params[:] = [p for p, _ in params]
    if taken or changed:
        what = [" ".join(["intentkb", *([str(g.name)] if g is not cli else []), n]) for g, n, _ in taken] + changed
        click.echo(f"intentkb: plugin {module} may not replace {', '.join(what)}; kept intentkb's", err=True)


for _module in engine_commands():
    _attach(_module)


def main() -> None:
    cli(prog_name="intentkb")


if __name__ == "__main__":
    main()
