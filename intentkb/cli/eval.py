"""`intentkb eval mcq|score|run`: models and baselines scored on benchmark questions."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from .common import LazyChoice, fail_if_all_rejected, rejects_path_for, settings_of
from .output import print_format, print_score, report_format


@click.group("eval")
def eval_group() -> None:
    """Score models and baselines on benchmark questions."""


@eval_group.command("mcq")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--input-format",
    "fmt",
    type=click.Choice(["intentionqa"]),
    default="intentionqa",
    show_default=True,
    help="The questions' file format: IntentionQA JSONL (QA_fullInfo_task*.jsonl).",
)
@click.option(
    "--scorer",
    type=click.Choice(["embedding", "rerank"]),
    default="embedding",
    show_default=True,
    help="embedding: the option closest to the question in embedding space; rerank: the option a "
    "cross-encoder (--reranker) finds most likely, reading question and option together.",
)
@click.option(
    "--reranker", metavar="NAME_OR_PATH", help="The cross-encoder of --scorer rerank: a model `intentkb train reranker -o NAME` wrote, by name or path."
)
@click.option("--task", type=click.Choice(["1", "2"]), help="Treat every question as this IntentionQA task (default: the record's, else detected).")
@click.option("--predictions", type=click.Path(path_type=Path), help="Write one JSON line per question (scores, prediction).")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.mcq.rejects.jsonl).")
@click.option(
    "--precision",
    type=LazyChoice("intentkb.retrieval.backends", "all_precisions", extra=("auto",)),
    default="auto",
    show_default=True,
    help="Encoder mode. auto: INTENTKB_EMBEDDING_PRECISION when set, else the fastest mode measured on this "
    "machine whose vectors agree with float32 (kept in $INTENTKB_HOME/models/encoder-choice.json); "
    "bfloat16 runs on torch, int8 on ONNX Runtime.",
)
@report_format
@click.pass_context
def eval_mcq(
    ctx: click.Context,
    file: Path,
    fmt: str,
    scorer: str,
    reranker: str | None,
    task: str | None,
    predictions: Path | None,
    rejects: Path | None,
    precision: str,
    as_json: bool,
) -> None:
    """Accuracy with a 95% confidence interval on IntentionQA-format multiple-choice questions.

    \b
    Example:
      intentkb eval mcq QA_fullInfo_task1.jsonl --input-format intentionqa --scorer embedding
      intentkb eval mcq QA_fullInfo_task1.jsonl --scorer rerank --reranker shop-reranker
    """
    from ..evaluation.mcq import evaluate_mcq
    from ..retrieval.backends import mode_of
    from ..retrieval.embeddings import Embedder, open_embedder

    settings = settings_of(ctx)
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    opened: list[Embedder] = []
    if scorer == "rerank" and not reranker:
        raise click.UsageError("--scorer rerank needs --reranker NAME_OR_PATH (made by `intentkb train reranker`)")
    if reranker and scorer != "rerank":
        raise click.UsageError("--reranker is read by --scorer rerank only")
    cross = None
    if reranker:
        from ..retrieval.rerank import Reranker

        cross = Reranker.open(settings, reranker)

    def make(texts: list[str]) -> Embedder:
        s = settings
        if precision == "auto" and not os.environ.get("INTENTKB_EMBEDDING_PRECISION") and settings.embedding_device == "cpu":
            from ..retrieval.encoder_choice import choose

            c = choose(settings, texts, echo=say)
            s = settings.model_copy(update={"embedding_backend": c.backend, "embedding_precision": c.precision})
        elif precision != "auto":
            b, p = mode_of(settings.embedding_model_location, precision, settings.embedding_backend)
            s = settings.model_copy(update={"embedding_precision": p, "embedding_backend": b})
        opened.append(open_embedder(s, progress=True, echo=say))
        return opened[-1]

    try:
        report = evaluate_mcq(
            file,
            make,
            scorer=scorer,
            reranker=cross,
            task=int(task) if task else None,
            rejects_path=rejects or rejects_path_for(ctx, file, "mcq"),
            predictions_path=predictions,
            echo=say,
        )
    finally:
        for e in opened:
            if e.cache:
                e.cache.close()
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        fail_if_all_rejected(report.scored, report.rejected, report.rejects_file)
        return
    click.echo(
        f"{report.file} [{fmt}, {scorer} scorer, {report.model}]: read {report.read} = scored {report.scored} + rejected {report.rejected}"
        + (f" (rejects: {report.rejects_file})" if report.rejects_file else "")
    )
    click.echo(f"accuracy  {report.overall.text()}  (95% Wilson interval)")
    for name, acc in report.by_task.items():
        click.echo(f"  {name}   {acc.text()}")
    if report.pairs_read:
        click.echo(
            f"{report.pairs_read} (question, option) pairs read by the reranker"
            + (f"; {report.texts} texts embedded for its first stage" if report.texts else "")
            + f", in {report.seconds:.1f}s"
        )
    else:
        click.echo(f"{report.texts} distinct texts, {report.encoded} embedded now ({report.encoder}), in {report.seconds:.1f}s")
    fail_if_all_rejected(report.scored, report.rejected, report.rejects_file)


@eval_group.command("score")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.score.rejects.jsonl).")
@print_format
@click.pass_context
def eval_score(ctx: click.Context, files: tuple[Path, ...], rejects: Path | None, fmt: str) -> None:
    """Accuracy (95% interval) and macro-F1 per task, with random and majority baselines; given two
    files, both side by side on the items they share, with the difference and McNemar's test.

    FILE is JSON Lines: {"id", "task", "label", "prediction" (null: invalid), "options" (optional)}.

    \b
    Examples:
      intentkb eval score results.jsonl --format json
      intentkb eval score plain.results.jsonl injected.results.jsonl
    """
    if len(files) > 2:
        raise click.UsageError("give one results file, or two to compare")
    if len(files) == 2:
        from ..evaluation.paired import compare_files
        from .output import print_paired

        paired = compare_files(files[0], files[1], echo=lambda m: click.echo(m, err=True))
        click.echo(paired.model_dump_json(indent=2)) if fmt == "json" else print_paired(paired)
        return
    from ..evaluation.score import score_file

    report = score_file(files[0], rejects_path=rejects or rejects_path_for(ctx, files[0], "score"), echo=lambda m: click.echo(m, err=True))
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    else:
        print_score(report)
    fail_if_all_rejected(report.scored, report.rejected, report.rejects_file)


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", help="Model name (env INTENTKB_LLM_MODEL, default gpt-4o-mini).")
@click.option(
    "--prompt",
    "style",
    type=LazyChoice("intentkb.tasks.render", "STYLES"),
    default="zero",
    show_default=True,
    help="Prompt style: zero-shot, five worked examples, or chain of thought (letter on the last line).",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Results JSONL (default FILE.<model>.<style>.results.jsonl).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N items.")
@click.option("--concurrency", type=click.IntRange(1, 4096), help="Requests in flight (env INTENTKB_LLM_CONCURRENCY, default 32).")
@click.option("--prompts", "prompts_dir", type=click.Path(path_type=Path, file_okay=False), help="Directory of your own task templates.")
@click.option(
    "--multimodal",
    type=LazyChoice("intentkb.llm.settings", "MULTIMODAL"),
    help="Send the products' images (one each, up to 8) to a vision model (auto: by model name).",
)
@click.option(
    "--llm-output",
    type=LazyChoice("intentkb.prompts.formats", "OUTPUT_MODES"),
    help="json: the answer is constrained to the item's option letters (JSON-schema response_format); lines: "
    "read from the reply's text; auto: json, lines if the endpoint refuses it (env INTENTKB_LLM_OUTPUT).",
)
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default DATA_DIR/rejects/FILE.eval.rejects.jsonl).")
@click.option("--split", type=LazyChoice("intentkb.tasks.split", "SPLITS"), help="Only the items of this split (as `tasks export` wrote it).")
@click.option(
    "--inject",
    type=click.IntRange(0, 50),
    default=0,
    show_default=True,
    help="Put the K intentions nearest to each item's inputs in its prompt (never the item's own nodes, "
    "its group's, or its options' text); needs `index build`.",
)
@print_format
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
    settings = settings_of(ctx)
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


eval_group.add_command(eval_run)
