"""`intentkb tasks export|list`: benchmark items from the graph; choices from the benchmark and writer registries."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any

import click

from ..clikit.model_options import field_option
from ..export.writers import writers
from ..tasks.registry import benchmarks
from .common import LazyChoice, settings_of
from .output import emit, print_report, report_format

BENCHMARKS = benchmarks()  # the CLI's choices are the registries' names
WRITERS = writers()


@click.group("tasks")
def tasks_group() -> None:
    """Benchmark task sets cut from the graph: SessionIntentBench, EcomScriptBench, IntentionQA-style."""


@tasks_group.command("list")
def tasks_list() -> None:
    """The tasks each benchmark builds.

    \b
    Example:
      intentkb tasks list
    """
    from ..tasks.registry import benchmarks

    emit([{"benchmark": b.name, "task": t, "asks": what} for b in benchmarks().values() for t, what in b.tasks.items()], "table", width=100)


def _benchmark_options(f: Any) -> Any:
    """`tasks export`'s flags for the benchmarks' own build options, from their options models (a
    field two benchmarks share is one flag). A flag not given leaves each benchmark its own default,
    which its help states; only given flags reach the builder."""
    owners: dict[str, list[tuple[str, Any]]] = {}
    for b in BENCHMARKS.values():
        for name, info in b.own_options().items():
            owners.setdefault(name, []).append((b.name, info))
    for name in reversed(list(owners)):
        helps = [
            f"{b}: {info.description.rstrip('.')}" + (f" [default: {_shown(info.get_default(call_default_factory=True))}]" if not info.is_required() else "")
            for b, info in owners[name]
        ]
        f = field_option(name, owners[name][0][1], given_only=True, text="; ".join(helps) + ".")(f)
    return f


def _shown(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(map(_shown, v))
    return str(v.value) if isinstance(v, enum.Enum) else str(v)


@tasks_group.command("export")
@click.option(
    "--benchmark", "-b", type=click.Choice(list(BENCHMARKS)), required=True, help="; ".join(f"{b.name}: {b.title}" for b in BENCHMARKS.values()) + "."
)
@click.option(
    "--task", "tasks", type=click.IntRange(1, max(len(b.tasks) for b in BENCHMARKS.values())), multiple=True, help="Task number (repeatable; default all)."
)
@click.option(
    "--prompt",
    "style",
    type=LazyChoice("intentkb.tasks.render", "STYLES"),
    help="Prompt style rendered into the export (default: zero; jsonl: no prompt unless given).",
)
@click.option(
    "--output-format",
    "fmt",
    type=click.Choice(list(WRITERS)),
    default="jsonl",
    show_default=True,
    help="The files written: " + "; ".join(f"{w.name}: {w.help}" for w in WRITERS.values()) + ".",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="A file (jsonl, csv) or a directory (alpaca, sharegpt, lm-eval).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, negatives and distractors.")
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="Share of groups (sessions, scripts, pairs) in the test split, by a hash of seed and group.",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Gold labels to attach by id (the output of `annotations import`, or {id, label} lines).",
)
@click.option("--limit", type=click.IntRange(1), help="Stop after this many items.")
@_benchmark_options
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of your own task templates (task_sib_t1.txt … as in intentkb/tasks/<benchmark>/templates).",
)
@report_format(moved=("--output-format", list(WRITERS)))
@click.pass_context
def tasks_export(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Build a benchmark's task items from the graph and write them out, split 4:1 into train/test.

    \b
    Examples:
      intentkb tasks export -b sib --mode end -o sib.jsonl
      intentkb tasks export -b sib --output-format csv --prompt zero -o sib_annotation.csv
      intentkb tasks export -b esb --output-format alpaca --prompt few -o sft/
      intentkb tasks export -b iqa --output-format lm-eval -o lm_eval_tasks/
    """
    from ..export.tasks import ExportOptions, export_tasks
    from ..kb.engines import open_store

    settings = settings_of(ctx)
    bench = BENCHMARKS[kw["benchmark"]]
    for name in {n for b in BENCHMARKS.values() for n in b.own_options()}:
        if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT or kw[name] in (None, ()):
            kw.pop(name)  # not given: the benchmark's own default
        elif name not in bench.own_options():
            owners = ", ".join(b.name for b in BENCHMARKS.values() if name in b.own_options())
            raise click.UsageError(f"--{name.replace('_', '-')} is an option of {owners}, not of {bench.name}")
    opts = ExportOptions(**kw)
    tick = (lambda n: click.echo(f"\r  {n:,} items", nl=False, err=True)) if sys.stderr.isatty() else None
    with open_store(settings) as store:
        report = export_tasks(store, settings, opts, progress=tick, echo=lambda m: click.echo(m, err=True))
    if tick:
        click.echo("", err=True)
    print_report(report, as_json)
    if report.written == 0:
        why = (
            [f"{report.unlabelled_left_out:,} items have no gold label, which {report.format} needs (--labels)"] if report.unlabelled_left_out else []
        ) + report.build.skipped_lines()
        raise click.ClickException("no items written: " + ("; ".join(why) or "the graph holds nothing these tasks are built from"))
