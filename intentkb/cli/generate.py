"""`intentkb generate attributes|trees|mind|scripts`: thin options over `intentkb.generate.run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..clikit.model_options import field_option
from .common import LazyChoice, settings_of
from .output import print_report, report_format


def _common(f: Any) -> Any:
    opts = [
        click.option("--concurrency", type=click.IntRange(1, 4096), help="Requests in flight (env INTENTKB_LLM_CONCURRENCY, default 32)."),
        click.option("--model", help="Model name (env INTENTKB_LLM_MODEL, default gpt-4o-mini)."),
        click.option(
            "--prompts",
            "prompts_dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Directory of your own prompt templates (same file names as intentkb/prompts/bundled and intentkb/tasks/<benchmark>/templates).",
        ),
        click.option("--multimodal", type=LazyChoice("intentkb.llm.settings", "MULTIMODAL"), help="Send product images as image parts (auto: by model name)."),
        click.option(
            "--output",
            "--llm-output",
            "llm_output",
            type=LazyChoice("intentkb.prompts.formats", "OUTPUT_MODES"),
            help="How replies are asked for: json (each template's reply model as a JSON-schema response_format), "
            "lines (the papers' line formats) or auto (json; lines for the rest of the run if the endpoint "
            "refuses response_format). Env INTENTKB_LLM_OUTPUT, default auto.",
        ),
        click.option("--batch", is_flag=True, help="Use the OpenAI Batch API (half price, results within 24 h); resumable."),
        click.option("--dry-run", is_flag=True, help="Print the number of calls and the estimated tokens and cost; call nothing, write nothing."),
    ]
    for o in reversed(opts):
        f = o(f)
    return report_format(f)


def _run(
    ctx: click.Context,
    pipeline: str,
    *,
    concurrency: int | None,
    model: str | None,
    prompts_dir: Path | None,
    multimodal: str | None,
    llm_output: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    from pydantic import ValidationError

    from ..generate.run import pipeline_options, run_generation
    from ..llm.settings import LLMSettings

    settings = settings_of(ctx)
    update: dict[str, Any] = {
        k: v
        for k, v in (("concurrency", concurrency), ("model", model), ("prompts_dir", prompts_dir), ("multimodal", multimodal), ("output", llm_output))
        if v is not None
    }
    llm = LLMSettings().model_copy(update=update)
    try:
        opts = pipeline_options(pipeline, {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()})
    except ValidationError as e:
        raise click.UsageError("; ".join(str(err["msg"]).removeprefix("Value error, ") for err in e.errors())) from None
    record = run_generation(pipeline, settings, llm, opts, echo=lambda s: click.echo(s, err=True))
    print_report(record, as_json)
    if as_json:
        return
    if any(s.rejected for s in record.stages):
        click.echo("some items were rejected: run the same command again to retry them (replies obtained so far are cached)")


class _PipelineGroup(click.Group):
    """The subcommands are the registered pipelines, built when `generate` is used (listing them
    imports the pipelines and the LLM client, which no other command needs)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..generate.pipeline import pipelines

        return list(pipelines())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from ..generate.pipeline import pipelines

        spec = pipelines().get(name)
        return _command(spec) if spec is not None else None


@click.group("generate", cls=_PipelineGroup)
def generate_group() -> None:
    """Generate knowledge with an LLM (any OpenAI-compatible endpoint): resumable, cached, concurrent.

    \b
    Endpoint: OPENAI_API_KEY, OPENAI_BASE_URL (vLLM, Ollama, llama.cpp …), INTENTKB_LLM_MODEL.
    Every reply is cached (DATA_DIR/llm_cache.sqlite); a stopped run continues where it stopped.
    """


def _command(spec: Any) -> click.Command:
    def callback(**kw: Any) -> None:
        _run(click.get_current_context(), spec.name, **kw)

    from ..generate.pipeline import PipelineOptions

    fields = {n: f for n, f in spec.options.model_fields.items() if n not in PipelineOptions.RUN_FIELDS}
    cmd: Any = callback
    for name, info in reversed(list(fields.items())):
        cmd = field_option(name, info)(cmd)
    return click.command(spec.name, help=f"{spec.summary}\n\n\b\nExample:\n  {spec.example}\n")(_common(cmd))
