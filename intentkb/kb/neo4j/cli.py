"""`intentkb export neo4j-import`: the Neo4j engine's own command (files for neo4j-admin)."""

from __future__ import annotations

from pathlib import Path

import click

from ...clikit import print_report, report_format, settings_of


@click.command("neo4j-import")
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
    from ..engines import open_store
    from .import_files import export_neo4j_import

    with open_store(settings_of(ctx)) as store:
        report = export_neo4j_import(store, directory, database=database)
    print_report(report, as_json)
    if not as_json:
        click.echo(f"then, with Neo4j stopped:  neo4j-admin @{Path(report.directory) / 'neo4j-admin.args'}")


def attach(root: click.Group) -> None:
    """Add this engine's commands to the `intentkb` group (kb/engines.py lists this module)."""
    export = root.commands["export"]
    assert isinstance(export, click.Group)
    export.add_command(export_neo4j_import_cmd)
