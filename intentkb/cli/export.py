"""`intentkb export knowledge` (and what engines add: `export neo4j-import`): the graph out as files for other tools."""

from __future__ import annotations

import click

from .knowledge import export_knowledge_cmd


@click.group("export")
def export_group() -> None:
    """The graph in other tools' formats."""


export_group.add_command(export_knowledge_cmd)
