"""`intentkb export neo4j-import|knowledge`: the graph out as files for other tools."""

from __future__ import annotations

from pathlib import Path

import click

from .common import store_for
from .knowledge import export_knowledge_cmd
from .output import report_format


@click.group("export")
def export_group() -> None:
    """The graph in other tools' formats."""


@export_group.command("neo4j-import")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--database", default="neo4j", show_default=True, help="The Neo4j database the import creates.")
@report_format
@click.pass_context
def export_neo4j_import_cmd(ctx: click.Context, directory: Path, database: str, as_json: bool) -> None:
    """CSV files for `neo4j-admin database import full`: a large first load into Neo4j.

    \b
    Example:
      intentkb export neo4j-import ./neo4j-import
      neo4j-admin @./neo4j-import/neo4j-admin.args            # Neo4j stopped, database absent
      INTENTKB_GRAPH_URI=bolt://localhost:7687 intentkb init  # uniqueness constraints
    """
    from ..kb.neo4j.import_files import export_neo4j_import

    with store_for(ctx) as store:
        report = export_neo4j_import(store, directory, database=database)
    click.echo(report.model_dump_json(indent=2) if as_json else report.line())
    if not as_json:
        click.echo(f"then, with Neo4j stopped:  neo4j-admin @{Path(report.directory) / 'neo4j-admin.args'}")


export_group.add_command(export_knowledge_cmd)
