"""The `intentkb` command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..config import Settings
from ..errors import IntentKBError
from .output import FORMATS, emit, emit_jsonl, print_score, report_format


class _Group(click.Group):
    """Library errors become one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IntentKBError as e:
            from ..private import redact

            raise click.ClickException(redact(str(e), [os.environ.get("OPENAI_API_KEY", "")])) from e


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings()


def _rejects(ctx: click.Context, path: Path, what: str) -> Path:
    from ..io.rejects import default_rejects_path

    return default_rejects_path(_settings(ctx).rejects_dir, path, what)


def _all_rejected(kept: int, rejected: int, rejects_file: str | None) -> None:
    """A file none of whose lines could be read is a failed run, whatever was printed."""
    if rejected and not kept:
        raise click.ClickException(f"every line was rejected ({rejected:,}): see {rejects_file}")


def _store(ctx: click.Context):
    from ..kb.engines import open_store

    return open_store(_settings(ctx))


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
    with _store(ctx) as store:
        store.setup_schema()
    click.echo(f"knowledge base ready in {_settings(ctx).data_dir} ({store.kind} store)")


# -- server ---------------------------------------------------------------------------------
@cli.group()
def server() -> None:
    """Start, stop or inspect the embedded FalkorDB server of the data directory."""


def _server(ctx: click.Context):
    from ..kb.falkordb import EmbeddedServer

    s = _settings(ctx)
    if not s.embedded:
        raise IntentKBError("server commands apply to the embedded store; INTENTKB_GRAPH_URI points elsewhere")
    return EmbeddedServer(s.data_dir, s.falkordb_args)


@server.command("start")
@click.pass_context
def server_start(ctx: click.Context) -> None:
    """Start the server (reuses a running one).

    \b
    Example:
      intentkb server start
    """
    srv = _server(ctx)
    started = srv.start()
    click.echo(f"{'started' if started else 'already running'}: {srv.socket}")


@server.command("stop")
@click.pass_context
def server_stop(ctx: click.Context) -> None:
    """Stop the server cleanly.

    \b
    Example:
      intentkb server stop
    """
    srv = _server(ctx)
    click.echo("stopped" if srv.stop() else "not running")


@server.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
@click.pass_context
def server_status(ctx: click.Context, fmt: str) -> None:
    """Is the server running, where, how big.

    \b
    Example:
      intentkb server status --format json
    """
    st = _server(ctx).status()
    if fmt == "json":
        click.echo(st.model_dump_json(indent=2))
    else:
        for k, v in st.model_dump().items():
            click.echo(f"{k:24} {v}")
    if not st.running:
        sys.exit(3)


# -- ingest ---------------------------------------------------------------------------------
_INGEST_HELP = {
    "products": "Amazon-M2 products (CSV/parquet) or the Amazon catalogue CSV.",
    "sessions": "Amazon-M2 sessions (CSV/parquet; prev_items, next_item, locale).",
    "cobuy": "MIND/FolkScope paired CSV or IntentionQA JSONL co-buy intentions.",
    "scripts": "CoScript JSONL scripts (Abstract Goal, Specific Goal, Constraint, Script, Category).",
    "intentions": "Purchase intentions of products (JSONL/CSV: product, intention[, title]).",
    "trees": "Intention trees in intentkb's JSONL format (see intentkb.ingest.trees).",
}


@cli.command()
@click.argument("kind", type=click.Choice(list(_INGEST_HELP)))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--input-format", "fmt", help="Reader format (default: detected). products: m2|catalog; cobuy: mind|intentionqa.")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.KIND.rejects.jsonl).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), help="Records (tree nodes for trees) per write batch.")
@click.option(
    "--mode",
    type=click.Choice(["auto", "bulk", "merge"]),
    default="auto",
    show_default=True,
    help="trees: 'bulk' builds an empty embedded graph with GRAPH.BULK (5-10x faster, same graph); "
    "'merge' writes with MERGE; 'auto' bulk-loads when the graph is empty.",
)
@click.option("--workers", type=click.IntRange(0, 64), help="Bulk path: parsing processes (default: CPUs, 0 for small files).")
@report_format
@click.pass_context
def ingest(
    ctx: click.Context,
    kind: str,
    files: tuple[Path, ...],
    fmt: str | None,
    rejects: Path | None,
    batch_size: int | None,
    mode: str,
    workers: int | None,
    as_json: bool,
) -> None:
    """Load FILES of KIND; bad rows go to a rejects file, good rows load, re-runs add nothing.

    \b
    Example:
      intentkb ingest products test_sample_1000.csv
      intentkb ingest cobuy crowdsourcing_integrate_4500_b*.csv
      intentkb ingest sessions sessions_train.parquet --input-format m2
    """
    from ..ingest import IngestFailed, ingest_file

    summaries = []
    with _store(ctx) as store:
        for f in files:
            try:
                s = ingest_file(
                    store,
                    kind,
                    f,
                    fmt=fmt,
                    rejects_path=rejects,
                    batch_size=batch_size,
                    mode=mode,
                    workers=workers,
                    progress=sys.stderr.isatty(),
                    echo=lambda m: click.echo(m, err=True),
                )
            except IngestFailed as e:  # what was kept is printed, then the one-line reason and exit 1
                click.echo(json.dumps([x.model_dump() for x in [*summaries, e.summary]], indent=2) if as_json else e.summary.line())
                raise
            summaries.append(s)
            if not as_json:
                click.echo(s.line())
    if as_json:
        click.echo(json.dumps([s.model_dump() for s in summaries], indent=2))


# -- retrieval -------------------------------------------------------------------------------
@cli.group("index")
def index_group() -> None:
    """FAISS indexes over intentions and script steps, kept beside the graph."""


@index_group.command("build")
@click.option("--only", type=click.Choice(["intentions", "steps", "products"]), multiple=True, help="Build only this index (repeatable).")
@click.option("--rebuild", is_flag=True, help="Build from scratch (needed after changing the embedding model).")
@report_format
@click.pass_context
def index_build(ctx: click.Context, only: tuple[str, ...], rebuild: bool, as_json: bool) -> None:
    """Embed new and changed texts, drop deleted ones, save the indexes.

    \b
    Example:
      intentkb index build
      INTENTKB_EMBEDDING_MODEL=/models/e5-small intentkb index build --rebuild
    """
    from ..retrieval.build import build_indexes

    with _store(ctx) as store:
        reports = build_indexes(store, _settings(ctx), list(only) or None, rebuild=rebuild, progress=True, echo=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in reports], indent=2))
    else:
        for r in reports:
            click.echo(r.line())


@cli.group("align")
def align_group() -> None:
    """Link graph nodes by embedding similarity."""


@align_group.command("steps")
@click.option("--threshold", type=click.FloatRange(-1, 1), default=0.45, show_default=True, help="Least cosine similarity (EcomScriptBench: 0.45).")
@click.option("--top-k", type=click.IntRange(1, 1000), default=10, show_default=True, help="At most this many intentions per step.")
@click.option("--script", "scripts", multiple=True, help="Only the steps of these scripts (repeatable).")
@report_format
@click.pass_context
def align_steps_cmd(ctx: click.Context, threshold: float, top_k: int, scripts: tuple[str, ...], as_json: bool) -> None:
    """Write (Step)-[:ALIGNED {score}]->(Intention) for each step's closest intentions.

    \b
    Example:
      intentkb index build && intentkb align steps --threshold 0.45 --top-k 10
      intentkb cypher "MATCH (c:Script)-[:HAS_STEP]->(s)-[a:ALIGNED]->(i)-[:EXPLAINS]->(p:Product) RETURN s.text, a.score, p.title LIMIT 10"
    """
    from ..retrieval.align import align_steps

    with _store(ctx) as store:
        report = align_steps(store, _settings(ctx), threshold=threshold, top_k=top_k, scripts=list(scripts) or None, progress=True)
    click.echo(report.model_dump_json(indent=2) if as_json else report.line())


def _retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None) -> tuple[list[Any], list[Any]]:
    """Hits for TEXT or the steps of a script: from a running `intentkb serve` of this graph when
    there is one (no model to load), else here."""
    from ..retrieval.fusion import ProductHit
    from ..retrieval.retrieve import Retriever, StepProducts
    from ..serve.running import call, find_server

    settings = _settings(ctx)
    url = find_server(settings)
    if url is not None:
        body: dict[str, Any] = {"k": k, **({"text": text} if text else {"script": script}), **({"threshold": threshold} if threshold is not None else {})}
        out = call(url, "/retrieve", body, token=os.environ.get("INTENTKB_SERVE_TOKEN"))
        return ([ProductHit.model_validate(h) for h in out.get("products") or []], [StepProducts.model_validate(s) for s in out.get("steps") or []])
    with _store(ctx) as store, Retriever(store, settings) as r:
        if text:
            return r.retrieve(text, k, threshold=threshold), []
        return [], r.retrieve_script(script or "", k, **({"threshold": threshold} if threshold is not None else {}))


def _hit_row(h: Any, rank: int | None = None) -> dict[str, Any]:
    """One retrieve hit as a table row: a co-buy pair on one row, weak matches marked as such."""
    title = f"{h.title}  +  {h.pair_title or h.pair}" if h.pair else h.title
    row = {"rank": rank} if rank is not None else {}
    return {
        **row,
        "score": h.score,
        "match": ("weak: " if h.weak else "") + "+".join(h.paths),
        "product": h.product + (f" + {h.pair}" if h.pair else ""),
        "title": title,
        "why": h.why,
    }


@cli.command()
@click.argument("text", required=False)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Products per text or step.")
@click.option("--script", help="Products for every step of this script instead of TEXT.")
@click.option("--threshold", type=click.FloatRange(-1, 1), help="Least intention similarity (default: none for TEXT, 0.45 for unaligned steps).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
@click.pass_context
def retrieve(ctx: click.Context, text: str | None, k: int, script: str | None, threshold: float | None, fmt: str) -> None:
    """Products that serve TEXT (or each step of a script), through the intentions they explain.

    \b
    Example:
      intentkb retrieve "protect my laptop on the commute" -k 5
      intentkb retrieve --script c1a2b3... --format json

    With `intentkb serve` running on this graph, the server answers (no model to load here).
    """
    if not text and not script:
        raise click.UsageError('give a need in words, or a script: intentkb retrieve "keep my coffee hot on the commute"  |  intentkb retrieve --script ID')
    if text and script:
        raise click.UsageError("give TEXT or --script, not both")
    hits, steps = _retrieve(ctx, text, k, script, threshold)
    if text:
        rows = [{"rank": i, **h.model_dump()} for i, h in enumerate(hits, start=1)]
        if fmt == "json":
            click.echo(json.dumps({"text": text, "products": rows}, ensure_ascii=False, indent=2))
        else:
            emit([_hit_row(h, rank=i) for i, h in enumerate(hits, start=1)], "table", width=48)
        return
    if fmt == "json":
        click.echo(json.dumps({"script": script, "steps": [s.model_dump() for s in steps]}, ensure_ascii=False, indent=2))
        return
    for s in steps:
        click.echo(f"\nstep {s.idx}: {s.text}  [{'aligned' if s.source == 'aligned' else 'searched now'}]")
        if s.products:
            emit([_hit_row(h) for h in s.products], "table", width=48)
        else:
            click.echo("  (no intention above the threshold leads to a product)")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="TCP port to listen on.")
@click.option("--token", envvar="INTENTKB_SERVE_TOKEN", help="Require `Authorization: Bearer TOKEN` (env INTENTKB_SERVE_TOKEN).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve retrieval and read-only Cypher over HTTP, the model and indexes loaded once.

    Routes: POST /retrieve, GET /scripts/{id}/products, POST /cypher (read-only), GET /health;
    OpenAPI docs at /docs. `intentkb retrieve` uses a running server of the same graph.

    \b
    Example:
      intentkb serve --port 8765
      curl -s localhost:8765/retrieve -H 'Content-Type: application/json' -d '{"text": "keep coffee hot on the commute", "k": 5}'
    """
    from ..serve.running import serve as run_server

    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo(f"warning: listening on {host} without a token: anyone who reaches it can query the graph", err=True)
    click.echo(f"intentkb serve on http://{host}:{port} (graph {_settings(ctx).graph_name}); Ctrl-C stops it", err=True)
    run_server(_settings(ctx), host=host, port=port, token=token)


# -- evaluation ------------------------------------------------------------------------------
@cli.group("eval")
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
    type=click.Choice(["embedding"]),
    default="embedding",
    show_default=True,
    help="embedding: the option closest to the question in embedding space.",
)
@click.option("--task", type=click.Choice(["1", "2"]), help="Treat every question as this IntentionQA task (default: the record's, else detected).")
@click.option("--predictions", type=click.Path(path_type=Path), help="Write one JSON line per question (scores, prediction).")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.mcq.rejects.jsonl).")
@click.option(
    "--precision",
    type=click.Choice(["auto", "float32", "bfloat16", "int8"]),
    default="auto",
    show_default=True,
    help="Encoder mode. auto: INTENTKB_EMBEDDING_PRECISION when set, else the fastest mode measured on this "
    "machine whose vectors agree with float32 (kept in $INTENTKB_HOME/models/encoder-choice.json); "
    "bfloat16 runs on torch, int8 on ONNX Runtime.",
)
@report_format
@click.pass_context
def eval_mcq(
    ctx: click.Context, file: Path, fmt: str, scorer: str, task: str | None, predictions: Path | None, rejects: Path | None, precision: str, as_json: bool
) -> None:
    """Accuracy with a 95% confidence interval on IntentionQA-format multiple-choice questions.

    \b
    Example:
      intentkb eval mcq QA_fullInfo_task1.jsonl --input-format intentionqa --scorer embedding
    """
    from ..evaluation.mcq import evaluate_mcq
    from ..retrieval.build import open_embedder
    from ..retrieval.embeddings import Embedder, backend_for

    settings = _settings(ctx)
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    opened: list[Embedder] = []

    def make(texts: list[str]) -> Embedder:
        s = settings
        if precision == "auto" and not os.environ.get("INTENTKB_EMBEDDING_PRECISION") and settings.embedding_device == "cpu":
            from ..retrieval.encoder_choice import choose

            c = choose(settings, texts, echo=say)
            s = settings.model_copy(update={"embedding_backend": c.backend, "embedding_precision": c.precision})
        elif precision != "auto":
            s = settings.model_copy(update={"embedding_precision": precision, "embedding_backend": backend_for(precision, settings.embedding_backend)})
        opened.append(open_embedder(s, progress=True, echo=say))
        return opened[-1]

    try:
        report = evaluate_mcq(
            file,
            make,
            scorer=scorer,
            task=int(task) if task else None,
            rejects_path=rejects or _rejects(ctx, file, "mcq"),
            predictions_path=predictions,
            echo=say,
        )
    finally:
        for e in opened:
            if e.cache:
                e.cache.close()
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        _all_rejected(report.scored, report.rejected, report.rejects_file)
        return
    click.echo(
        f"{report.file} [{fmt}, {scorer} scorer, {report.model}]: read {report.read} = scored {report.scored} + rejected {report.rejected}"
        + (f" (rejects: {report.rejects_file})" if report.rejects_file else "")
    )
    click.echo(f"accuracy  {report.overall.text()}  (95% Wilson interval)")
    for name, acc in report.by_task.items():
        click.echo(f"  {name}   {acc.text()}")
    click.echo(f"{report.texts} distinct texts, {report.encoded} embedded now ({report.encoder}), in {report.seconds:.1f}s")
    _all_rejected(report.scored, report.rejected, report.rejects_file)


@eval_group.command("score")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.score.rejects.jsonl).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
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

    report = score_file(files[0], rejects_path=rejects or _rejects(ctx, files[0], "score"), echo=lambda m: click.echo(m, err=True))
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    else:
        print_score(report)
    _all_rejected(report.scored, report.rejected, report.rejects_file)


@cli.group("annotations")
def annotations_group() -> None:
    """Human annotations of benchmark items."""


@annotations_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the gold labels here (JSON Lines: id, task, label, agreement, answers).")
@click.option(
    "--one-sided",
    type=click.FloatRange(0.5, 1.0),
    default=0.8,
    show_default=True,
    help="Leave out annotators who pick one side (positive or negative) at least this often.",
)
@click.option("--min-answers", type=click.IntRange(1), default=10, show_default=True, help="…over at least this many answers.")
@click.option("--rejects", type=click.Path(path_type=Path), help="Rejects file (default: DATA_DIR/rejects/FILE.annotations.rejects.jsonl).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
@click.pass_context
def annotations_import(ctx: click.Context, file: Path, output: Path | None, one_sided: float, min_answers: int, rejects: Path | None, fmt: str) -> None:
    """Majority labels (T1–T3: A/B positive; T4: A positive) with 3:0 / 2:1 agreement from one answer a row
    (id, task, annotator, answer), after leaving out one-sided annotators.

    \b
    Example:
      intentkb annotations import answers.csv -o gold.jsonl
    """
    from ..evaluation.annotations import import_annotations

    report = import_annotations(
        file,
        output=output,
        one_sided=one_sided,
        min_answers=min_answers,
        rejects_path=rejects or _rejects(ctx, file, "annotations"),
        echo=lambda m: click.echo(m, err=True),
    )
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
        return
    click.echo(
        f"{report.file}: read {report.read} = loaded {report.loaded} + rejected {report.rejected}"
        + (f" (rejects: {report.rejects_file})" if report.rejects_file else "")
    )
    gone = [a for a in report.annotators if a.excluded]
    click.echo(
        f"{len(report.annotators)} annotators, {len(gone)} left out as one-sided"
        + (": " + ", ".join(f"{a.annotator} ({a.positive_share:.0%} positive of {a.answers})" for a in gone) if gone else "")
    )
    emit([t.model_dump() for t in report.tasks], "table")
    if report.output:
        click.echo(f"gold labels: {report.output}")


# -- query ----------------------------------------------------------------------------------
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


@cli.command("cypher")
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
        emit(rows, fmt)
        if not list_all and fmt == "table":
            click.echo(f"{len(cypher.names()) - len(shown)} more that intentkb's own pipelines run: --list --all")
        return
    if not query:
        raise click.UsageError("give a query (Cypher text or a name from --list)")
    given = dict(_parse_param(p) for p in params)
    cypher.check_parameters(query, given)
    with _store(ctx) as store:
        rows = store.run(query, given, write=write, timeout=timeout or _settings(ctx).query_timeout)
    emit(rows, fmt)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Print as text (table) or as JSON.")
@click.pass_context
def stats(ctx: click.Context, fmt: str) -> None:
    """Counts per label and edge type, and MIND filter preserve rates per relation.

    \b
    Example:
      intentkb stats --format json
    """
    from ..kb.queries import relation_preserve_rates

    with _store(ctx) as store:
        counts = store.counts()
        rates = relation_preserve_rates(store)
    if fmt == "json":
        click.echo(json.dumps({**counts, "relations": rates}, indent=2))
        return
    emit([{"label": k, "nodes": v} for k, v in counts["nodes"].items()], "table")
    emit([{"type": k, "edges": v} for k, v in counts["edges"].items()], "table")
    if rates:
        emit(rates, "table")


@cli.command()
@click.option("--session", "sessions", multiple=True, help="Only these sessions (repeatable).")
@click.option("--details", is_flag=True, help="Per step: intention text, attribute, rationale, comparison, product.")
@click.option("--page", type=click.IntRange(1, 100_000), default=200, show_default=True, help="Sessions per query.")
@click.pass_context
def trajectories(ctx: click.Context, sessions: tuple[str, ...], details: bool, page: int) -> None:
    """Stream intention trajectories (root-to-leaf paths) as JSON Lines.

    \b
    Example:
      intentkb trajectories > trajectories.jsonl
      intentkb trajectories --session demo-skate --details
    """
    from ..kb.queries import iter_session_ids, iter_trajectories, trajectory_details

    with _store(ctx) as store:
        if details:
            ids = list(sessions) if sessions else iter_session_ids(store)
            n = sum(emit_jsonl(trajectory_details(store, sid)) for sid in ids)
        else:
            n = emit_jsonl(iter_trajectories(store, page=page, sessions=list(sessions) or None))
    click.echo(f"{n} trajectories", err=True)


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

    chosen = ctx.parent.params.get("data_dir") if ctx.parent else None  # intentkb --data-dir DIR demo
    if demo_dir is None and (chosen or os.environ.get("INTENTKB_HOME")):
        demo_dir = _settings(ctx).data_dir
    run_demo(demo_dir, keep_server=keep_server, echo=click.echo)


@cli.group("export")
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

    with _store(ctx) as store:
        report = export_neo4j_import(store, directory, database=database)
    click.echo(report.model_dump_json(indent=2) if as_json else report.line())
    if not as_json:
        click.echo(f"then, with Neo4j stopped:  neo4j-admin @{Path(report.directory) / 'neo4j-admin.args'}")


from .generate import generate_group  # noqa: E402
from .knowledge import export_knowledge_cmd  # noqa: E402
from .tasks import eval_run, show_group, tasks_group  # noqa: E402
from .train import train_group  # noqa: E402

cli.add_command(generate_group)
cli.add_command(tasks_group)
cli.add_command(show_group)
cli.add_command(train_group)
eval_group.add_command(eval_run)
export_group.add_command(export_knowledge_cmd)


def main() -> None:
    cli(prog_name="intentkb")


if __name__ == "__main__":
    main()
