"""`intentkb tasks export|list`, `intentkb eval run`, `intentkb show session`: thin options over intentkb.tasks."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..export.writers import writers
from ..tasks.registry import benchmarks
from .output import emit, print_score, report_format

BENCHMARKS = benchmarks()  # the CLI's choices are the registries' names
WRITERS = writers()


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings()


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


def _band(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter("two numbers, low,high (e.g. 0.3,0.8)") from None
    return lo, hi


@tasks_group.command("export")
@click.option(
    "--benchmark",
    "-b",
    type=click.Choice(list(BENCHMARKS)),
    required=True,
    help="; ".join(f"{b.name}: {b.title}" for b in BENCHMARKS.values()) + ".",
)
@click.option("--task", "tasks", type=click.IntRange(1, 4), multiple=True, help="Task number (repeatable; default all).")
@click.option(
    "--mode",
    type=click.Choice(["end", "every"]),
    default="end",
    show_default=True,
    help="sib: ask at the end of each trajectory (the annotated set) or at every step (the task pool).",
)
@click.option(
    "--prompt", "style", type=click.Choice(["zero", "few", "cot"]), help="Prompt style rendered into the export (default: zero; jsonl: no prompt unless given)."
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
@click.option("--negatives", type=click.IntRange(1, 3), default=1, show_default=True, help="esb T1: broken copies per script.")
@click.option("--band", default="0.3,0.8", show_default=True, help="iqa: cosine similarity band of distractors (low,high).")
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of your own task templates (task_sib_t1.txt … as in intentkb/tasks/templates).",
)
@report_format(moved=("--output-format", list(WRITERS)))
@click.pass_context
def tasks_export(ctx: click.Context, as_json: bool, band: str, **kw: Any) -> None:
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

    settings = _settings(ctx)
    opts = ExportOptions(band=_band(band), **kw)
    tick = (lambda n: click.echo(f"\r  {n:,} items", nl=False, err=True)) if sys.stderr.isatty() else None
    with open_store(settings) as store:
        report = export_tasks(store, settings, opts, progress=tick, echo=lambda m: click.echo(m, err=True))
    if tick:
        click.echo("", err=True)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if report.written == 0:
        why = (
            [f"{report.unlabelled_left_out:,} items have no gold label, which {report.format} needs (--labels)"] if report.unlabelled_left_out else []
        ) + report.build.skipped_lines()
        raise click.ClickException("no items written: " + ("; ".join(why) or "the graph holds nothing these tasks are built from"))


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", help="Model name (env INTENTKB_LLM_MODEL, default gpt-4o-mini).")
@click.option(
    "--prompt",
    "style",
    type=click.Choice(["zero", "few", "cot"]),
    default="zero",
    show_default=True,
    help="Prompt style: zero-shot, five worked examples, or chain of thought (letter on the last line).",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Results JSONL (default FILE.<model>.<style>.results.jsonl).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N items.")
@click.option("--concurrency", type=click.IntRange(1, 4096), help="Requests in flight (env INTENTKB_LLM_CONCURRENCY, default 32).")
@click.option("--prompts", "prompts_dir", type=click.Path(path_type=Path, file_okay=False), help="Directory of your own task templates.")
@click.option(
    "--multimodal", type=click.Choice(["auto", "on", "off"]), help="Send the products' images (one each, up to 8) to a vision model (auto: by model name)."
)
@click.option(
    "--llm-output",
    type=click.Choice(["auto", "json", "lines"]),
    help="json: the answer is constrained to the item's option letters (JSON-schema response_format); lines: "
    "read from the reply's text; auto: json, lines if the endpoint refuses it (env INTENTKB_LLM_OUTPUT).",
)
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default DATA_DIR/rejects/FILE.eval.rejects.jsonl).")
@click.option("--split", type=click.Choice(["train", "test"]), help="Only the items of this split (as `tasks export` wrote it).")
@click.option(
    "--inject",
    type=click.IntRange(0, 50),
    default=0,
    show_default=True,
    help="Put the K intentions nearest to each item's inputs in its prompt (never the item's own nodes, "
    "its group's, or its options' text); needs `index build`.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
@click.pass_context
def eval_run(
    ctx: click.Context,
    file: Path,
    model: str | None,
    style: str,
    output: Path | None,
    limit: int | None,
    concurrency: int | None,
    prompts_dir: Path | None,
    multimodal: str | None,
    llm_output: str | None,
    rejects: Path | None,
    split: str | None,
    inject: int,
    fmt: str,
) -> None:
    """Ask a model every item of a task file (from `tasks export`) and score the answers.

    Replies are cached; an unreadable answer is invalid (wrong) and reported. Labelled items are
    scored as `eval score` does; results are JSONL that `eval score` reads again.

    \b
    Example:
      OPENAI_BASE_URL=http://localhost:8000/v1 intentkb eval run esb.jsonl --model Qwen2.5-7B-Instruct --prompt cot
      intentkb eval run iqa_test.jsonl --model Qwen2.5-7B-Instruct --inject 5
    """
    from ..evaluation.run import evaluate
    from ..llm.settings import LLMSettings

    update = {
        k: v
        for k, v in (("model", model), ("concurrency", concurrency), ("prompts_dir", prompts_dir), ("multimodal", multimodal), ("output", llm_output))
        if v is not None
    }
    llm = LLMSettings().model_copy(update=update)
    tick = (lambda n: click.echo(f"\r  {n:,} answered", nl=False, err=True)) if sys.stderr.isatty() else None
    settings = _settings(ctx)
    with ExitStack() as stack:
        context = None
        if inject:
            from ..kb.engines import open_store
            from ..knowledge.inject import Injector

            store = stack.enter_context(open_store(settings))
            context = Injector(store, settings, inject)
            stack.callback(context.close)
        report = evaluate(
            file,
            settings,
            llm,
            style=style,
            output=output,
            limit=limit,
            rejects_path=rejects,
            context=context,
            split=split,
            echo=lambda m: click.echo(m, err=True),
            progress=tick,
        )
    if tick:
        click.echo("", err=True)
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    else:
        for line in report.lines():
            click.echo(line)
        if report.score is not None:
            print_score(report.score)
        elif report.answered:
            click.echo("no item has a label: attach gold labels with `tasks export --labels` to score")
    if report.rejected and not report.answered:
        raise click.ClickException(f"every line was rejected ({report.rejected:,}): see {report.rejects_file}")


@click.group("show")
def show_group() -> None:
    """Look at part of the graph."""


@show_group.command("session")
@click.argument("session")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write an interactive page of the session's intention tree here.",
)
@click.pass_context
def show_session(ctx: click.Context, session: str, html_path: Path) -> None:
    """One session's intention tree as an HTML page: products on top, branches below, details on hover.

    \b
    Example:
      intentkb show session demo-skate --html skate.html
    """
    from ..kb.engines import open_store
    from ..views.session import write_session_html

    with open_store(_settings(ctx)) as store:
        path = write_session_html(store, session, html_path)
    click.echo(f"wrote {path}")
