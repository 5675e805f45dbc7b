"""`intentkb demo`: a small knowledge base from bundled real data, built and queried offline."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import Settings
from ..ingest import ingest_file
from ..kb.engines import open_store
from ..kb.queries import check_tree, pair_cobuy_intentions, session_tree, trajectory_details, tree_profile
from ..kb.store import GraphStore
from ..private import owner_only

# (kind, bundled file, reader format) in load order: products first so sessions link to full records.
DEMO_FILES = [
    ("products", "products.csv", "catalog"),
    ("cobuy", "cobuy_mind.csv", "mind"),
    ("scripts", "scripts.jsonl", "coscript"),
    ("intentions", "purchase_intentions.jsonl", "purchase"),
    ("trees", "trees.jsonl", "intentkb"),
]
DEMO_SESSION = "demo-skate"
DEMO_SCRIPT = "Start Longboarding"
DEMO_QUERY = "a present for a child who loves dinosaurs"


def data_path(name: str) -> Path:
    return Path(str(resources.files(__package__).joinpath("data", name)))


def build_demo(settings: Settings, echo: Callable[[str], None] = print) -> dict:
    """Load the bundled files into the store of `settings`; returns the store counts."""
    with open_store(settings) as store:
        for kind, name, fmt in DEMO_FILES:
            echo(ingest_file(store, kind, data_path(name), fmt=fmt, echo=echo).line())
        return store.counts()


def retrieval_demo(store: GraphStore, settings: Settings, echo: Callable[[str], None]) -> None:
    """Index intentions and steps, align the steps, then retrieve products for a script and a text."""
    from ..retrieval.align import align_steps
    from ..retrieval.build import build_indexes
    from ..retrieval.retrieve import Retriever

    echo("\nembedding intentions and script steps (all-MiniLM-L6-v2, bundled):")
    for report in build_indexes(store, settings):
        echo("  " + report.line())
    echo("  " + align_steps(store, settings).line())
    script = store.run("MATCH (c:Script {objective: $o}) RETURN c.id AS id", {"o": DEMO_SCRIPT})[0]["id"]
    with Retriever(store, settings) as retriever:
        echo(f"\nproducts for each step of the script '{DEMO_SCRIPT}':  intentkb retrieve --script {script}")
        for step in retriever.retrieve_script(script, k=2):
            found = "; ".join(f"{(h.title or h.product)[:38]}" + (" (weak)" if h.weak else "") for h in step.products) or "none found"
            echo(f"  {step.idx}. {step.text[:60]}\n       -> {found}")
        echo(f'\nintentkb retrieve "{DEMO_QUERY}" -k 3')
        for h in retriever.retrieve(DEMO_QUERY, k=3):
            echo(f"  {'weak ' if h.weak else ''}{'+'.join(h.paths):<17} {(h.title or h.product)[:50]}  <- {h.why[:70]}")


def tasks_demo(store: GraphStore, settings: Settings, data_dir: Path, echo: Callable[[str], None]) -> dict[str, int]:
    """Every benchmark's tasks from this knowledge base, as files, and the HTML view of one session."""
    from ..export.tasks import ExportOptions, export_tasks
    from ..views.session import write_session_html

    out = data_dir / "tasks"
    out.mkdir(exist_ok=True)  # exports refuse a missing folder: the demo makes its own
    echo(f"\nbenchmark tasks from the graph (intentkb tasks export -b sib|esb|iqa -o FILE), into {out}:")
    counts: dict[str, int] = {}
    for bench in ("sib", "esb", "iqa"):
        report = export_tasks(store, settings, ExportOptions(benchmark=bench, output=out / f"{bench}.jsonl"))
        per_task = {t: sum(c.values()) for t, c in report.by_task.items()}
        counts.update(per_task)
        echo(f"  {bench}: " + ", ".join(f"{t} {n}" for t, n in per_task.items()) + (f"   ({report.build.trajectories} trajectories)" if bench == "sib" else ""))
    report = export_tasks(store, settings, ExportOptions(benchmark="esb", fmt="alpaca", style="few", output=out / "sft"))
    echo(f"  SFT data (alpaca, 5-shot prompts) with a LLaMA-Factory dataset_info.json: {report.written} items in {out / 'sft'}")
    page = write_session_html(store, DEMO_SESSION, data_dir / f"session-{DEMO_SESSION}.html")
    echo(f"  intentkb show session {DEMO_SESSION} --html {page}")
    echo(f"  evaluate a model: OPENAI_BASE_URL=… intentkb eval run {out / 'esb.jsonl'} --model M --prompt cot")
    return counts


def generation_demo(settings: Settings, echo: Callable[[str], None]) -> None:
    """What the LLM pipelines would still do on this knowledge base: a dry run calls nothing."""
    from ..generate.run import run_generation
    from ..llm.settings import LLMSettings

    llm = LLMSettings(model="gpt-4o-mini", multimodal="off", prompts_dir=None, price=None)
    echo("\ngenerating the rest with an LLM (dry runs: nothing is called; gpt-4o-mini list prices):")
    for pipeline in ("attributes", "trees", "mind", "scripts"):
        rec = run_generation(pipeline, settings, llm, {"progress": False, "dry_run": True})
        t = rec.total
        echo(f"  intentkb generate {pipeline:10}  {t.calls:6,} calls, ~{t.prompt_tokens + t.completion_tokens:9,} tokens, ~${rec.usage.cost_usd:.4f}")


def run_demo(data_dir: Path | None = None, *, keep_server: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Build and query the demo in `data_dir`; without one, in a temporary directory that is removed
    at the end (kept, with its server, under `keep_server`)."""
    started = time.monotonic()
    temporary = data_dir is None
    data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="intentkb-demo-"))
    settings = Settings(graph_uri="embedded").with_data_dir(data_dir)
    if temporary:
        echo(
            "(in a temporary directory, removed at the end: the commands shown below work on a kept one, "
            "`intentkb demo --data-dir ./kb` then `export INTENTKB_HOME=./kb`)"
        )
    try:  # whatever ends the demo (an error, Ctrl-C), it stops what it started and removes its temporary directory
        with owner_only():
            counts, trajectories, task_counts = _build_and_show(settings, data_dir, echo)
    finally:
        if not keep_server:
            from ..kb.falkordb import EmbeddedServer

            EmbeddedServer(data_dir).stop()
        if temporary and not keep_server:
            shutil.rmtree(data_dir, ignore_errors=True)
    if temporary and not keep_server:
        echo(
            f"\ndone in {time.monotonic() - started:.1f}s, in a temporary directory, now removed: "
            "`intentkb demo --data-dir DIR` (or INTENTKB_HOME=DIR) keeps the knowledge base"
        )
    else:
        echo(
            f"\ndone in {time.monotonic() - started:.1f}s. Query it: INTENTKB_HOME={data_dir} intentkb stats"
            + ("" if keep_server else "  (the server starts again on demand)")
        )
    return {"data_dir": str(data_dir), "counts": counts, "trajectories": trajectories, "tasks": task_counts}


def _build_and_show(settings: Settings, data_dir: Path, echo: Callable[[str], None]) -> tuple[dict[str, Any], list[Any], Any]:
    echo(f"building the demo knowledge base in {data_dir}")
    counts = build_demo(settings, echo)
    echo("\nnodes per label:  " + ", ".join(f"{k} {v}" for k, v in counts["nodes"].items()))
    echo("edges per type:   " + ", ".join(f"{k} {v}" for k, v in counts["edges"].items()))

    with open_store(settings) as store:
        tree = session_tree(store, DEMO_SESSION)
        problems = check_tree(tree)
        echo(f"\nsession {DEMO_SESSION}: {tree.number_of_nodes()} intentions, nodes per step {tree_profile(tree)}, shape {problems if problems else 'ok'}")
        echo("trajectory query:  intentkb cypher trajectory_details -p session=" + DEMO_SESSION)
        trajectories = trajectory_details(store, DEMO_SESSION)
        echo(f"{len(trajectories)} trajectories; the first:")
        for step in trajectories[0]["steps"]:
            echo(f"  step {step['step']} @ {step['product']} ({(step['product_title'] or '')[:40]})")
            echo(f"    intention:  {step['text']}")
            echo(f"    values:     {step['attribute']}   rationale: {step['rationale']}")
            if step["comparison"]:
                echo(f"    comparison: [{step['comparison_aspect']}] {step['comparison']}")
        pair = pair_cobuy_intentions(store, "B005QXX0MG", "B00PYV5HGC", accepted_only=True)
        if pair:
            echo(f"\na co-buy intention of B005QXX0MG + B00PYV5HGC that the filter kept ({pair[0]['relation']}):")
            echo("  " + pair[0]["text"])
        retrieval_demo(store, settings, echo)
        task_counts = tasks_demo(store, settings, data_dir, echo)
    generation_demo(settings, echo)
    return counts, trajectories, task_counts
