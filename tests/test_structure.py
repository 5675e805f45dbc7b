"""The house rules that keep extension cheap (issue 17): registries at the extension points, the
CLI's choices derived from them, small modules, and a library that never imports its test double."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pydantic import Field

from intentkb.cli.main import cli
from intentkb.errors import IntentKBError, StoreError
from intentkb.export.writers import writer_for, writers
from intentkb.generate.pipeline import Pipeline, PipelineOptions, Stage, pipelines
from intentkb.kb.engines import ENGINES, scheme_of, store_class
from intentkb.kb.store import GraphStore
from intentkb.prompts.templates import Prompts
from intentkb.tasks.registry import benchmarks, get_benchmark

PACKAGE = Path(__file__).parents[1] / "intentkb"
MAX_LINES = 360  # "no module over ~350 lines"


def test_no_module_over_the_size_limit():
    sizes = {p.relative_to(PACKAGE.parent).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_the_library_never_imports_its_test_double():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "testing" in node.module.split("."):
                offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module}")
    assert offenders == []


def _help(*args: str) -> str:
    res = CliRunner().invoke(cli, [*args, "--help"])
    assert res.exit_code == 0, res.output
    return res.output


def test_cli_choices_are_the_registries_names():
    export_help = _help("tasks", "export")
    for name in benchmarks():
        assert name in export_help
    for name in writers():
        assert name in export_help
    gen_help = _help("generate")
    assert set(pipelines()) == {"attributes", "trees", "mind", "scripts"}
    for name in pipelines():
        assert name in gen_help
    listed = CliRunner().invoke(cli, ["tasks", "list"]).output
    assert all(task in listed for b in benchmarks().values() for task in b.tasks)
    assert list(benchmarks()) == ["sib", "esb", "iqa"]  # the listing order is the registry's


def test_registries_say_what_they_hold():
    with pytest.raises(IntentKBError, match="one of sib, esb, iqa"):
        get_benchmark("nope")
    with pytest.raises(IntentKBError, match="jsonl, csv, alpaca, sharegpt, lm-eval"):
        writer_for("xml")
    assert get_benchmark("esb").task_names([2]) == ["esb-t2"]
    with pytest.raises(IntentKBError, match="no esb-t4"):
        get_benchmark("esb").task_names([4])
    # each benchmark reads the export's flat options through its own options model
    opts = get_benchmark("iqa").options.model_validate({"band": (0.2, 0.9), "mode": "every", "seed": 3})
    assert opts.band == (0.2, 0.9) and opts.seed == 3 and not hasattr(opts, "mode")


def test_store_factory_by_uri_scheme():
    assert scheme_of("") == scheme_of("embedded") == scheme_of("embedded:x") == "embedded"
    assert store_class("bolt://h:7687").__name__ == "Neo4jStore" and store_class("neo4j+s://h").__name__ == "Neo4jStore"
    assert store_class("embedded").__name__ == "EmbeddedStore"
    with pytest.raises(StoreError, match="scheme 'redis' is not one of"):
        store_class("redis://h:6379")
    assert {s.split("+")[0] for s in ENGINES} == {"embedded", "bolt", "neo4j"}
    # optional capabilities: the base has none, an engine offers its own
    assert store_class("bolt://h").bulk_loader is GraphStore.bulk_loader
    assert store_class("embedded").bulk_loader is not GraphStore.bulk_loader


def test_task_templates_sit_beside_the_builders():
    p = Prompts()
    for b in benchmarks().values():
        for task in b.tasks:
            assert p.get("task_" + task.replace("-", "_")).source.startswith(f"intentkb/tasks/{b.name}/templates/")
    assert p.get("mind_filter").source.startswith("intentkb/prompts/bundled/")


def test_a_pipelines_options_model_is_its_command(monkeypatch):
    """A pipeline declared as data gets a `generate` command whose options are its model's fields:
    flags, bounds, choices, repeatable lists and defaults, with the model's own validation."""
    from typing import Literal

    from intentkb.cli import generate

    class ToyOptions(PipelineOptions):
        colour: Literal["red", "blue"] = Field(default="red", description="A choice.")
        rounds: int = Field(default=2, ge=1, le=3, description="Bounded.")
        tag: list[str] = Field(default_factory=list, description="Repeatable.", json_schema_extra={"flag": "--tag"})
        loud: bool = Field(default=False, description="A flag.")

    async def run(ctx, o):  # pragma: no cover - never run here
        raise AssertionError

    toy = Pipeline(name="toy", summary="A toy.", example="intentkb generate toy", options=ToyOptions, stages=(Stage("only", run),))
    seen: dict = {}

    def fake_run(ctx, pipeline, **kw):
        common = ("concurrency", "model", "prompts_dir", "multimodal", "llm_output", "as_json")
        seen["opts"] = toy.options.model_validate({k: list(v) if isinstance(v, tuple) else v for k, v in kw.items() if k not in common})

    monkeypatch.setattr(generate, "_run", fake_run)
    cmd = generate._command(toy)
    group = click.Group("g", commands={"toy": cmd})
    runner = CliRunner()
    res = runner.invoke(group, ["toy", "--colour", "blue", "--rounds", "3", "--tag", "a", "--tag", "b", "--loud", "--limit", "5", "--dry-run"])
    assert res.exit_code == 0, res.output
    o = seen["opts"]
    assert (o.colour, o.rounds, o.tag, o.loud, o.limit, o.dry_run) == ("blue", 3, ["a", "b"], True, 5, True)
    assert runner.invoke(group, ["toy", "--rounds", "4"]).exit_code == 2  # the model's bound is the option's
    assert runner.invoke(group, ["toy", "--colour", "green"]).exit_code == 2
    text = runner.invoke(group, ["toy", "--help"]).output
    assert "A choice." in text and "Repeatable." in text and "intentkb generate toy" in text


def test_generate_refuses_what_a_pipelines_model_refuses():
    res = CliRunner().invoke(cli, ["generate", "scripts", "--category", "Toys", "--dry-run"])
    assert res.exit_code == 2 and "--category needs --from categories" in res.output
    res = CliRunner().invoke(cli, ["generate", "mind", "--relation", "notARelation", "--dry-run"])
    assert res.exit_code == 2 and "notARelation" in res.output


@pytest.fixture
def scratch_registrations():
    """Registrations a test makes are taken back after it (the registries are process-wide)."""
    from intentkb.export import writers as w
    from intentkb.tasks import registry as r

    yield
    r._BENCHMARKS.unregister("toy")
    w._WRITERS.unregister("tsv")


def test_a_new_benchmark_and_format_are_one_class_and_one_registration(estore, tmp_path, scratch_registrations):
    """Written here as a contributor would (CONTRIBUTING.md): a benchmark with one task and a
    writer for one more format, each registered once; `tasks export` then builds, splits and
    writes them, and the items read back through TaskItem like the bundled ones."""
    import json

    from intentkb.export.tasks import ExportOptions, export_tasks
    from intentkb.export.writers import Writer, register_writer
    from intentkb.ingest import ingest_file
    from intentkb.io.sources import jsonl_records
    from intentkb.tasks.items import YES_NO, TaskItem, make_item
    from intentkb.tasks.registry import Benchmark, BuildOptions, register

    demo = PACKAGE / "demo" / "data"
    ingest_file(estore, "products", demo / "products.csv", rejects_path=tmp_path / "p.rejects")
    ingest_file(estore, "trees", demo / "trees.jsonl", rejects_path=tmp_path / "t.rejects")

    def build(store, settings, tasks, options, stats):
        for row in store.run("MATCH (s:Session) RETURN s.id AS id ORDER BY id"):
            stats.sources += 1
            yield make_item("toy-t1", row["id"], {"session": row["id"]}, YES_NO, label="A", group=row["id"], query="toy", nodes=[row["id"]])

    register(Benchmark(name="toy", title="Toy", tasks={"toy-t1": "is this a session?"}, options=BuildOptions, build=build))

    @register_writer
    class TsvWriter(Writer):
        name, help, needs_prompts = "tsv", "id, task, split, label", False

        def __init__(self, opts, prompts, stack):
            super().__init__(opts, prompts, stack)
            self.fh = self.open_tmp(opts.output, "w", encoding="utf-8")

        def write(self, item, split):
            self.fh.write(f"{item['id']}\t{item['task']}\t{split}\t{item['label']}\n")
            return True

    sessions = estore.run("MATCH (s:Session) RETURN count(s) AS n")[0]["n"]
    rep = export_tasks(estore, estore.settings, ExportOptions(benchmark="toy", fmt="tsv", output=tmp_path / "toy.tsv"))
    lines = (tmp_path / "toy.tsv").read_text().splitlines()
    assert rep.written == len(lines) == sessions > 0 and all(x.split("\t")[1] == "toy-t1" for x in lines)
    rep = export_tasks(estore, estore.settings, ExportOptions(benchmark="toy", output=tmp_path / "toy.jsonl"))
    items = [TaskItem.model_validate(obj) for _, obj in jsonl_records(tmp_path / "toy.jsonl", ())]
    assert len(items) == sessions and {i.split for i in items} <= {"train", "test"}
    assert json.loads((tmp_path / "toy.jsonl").read_text().splitlines()[0])["benchmark"] == "toy"


def test_every_engine_of_the_registry_runs_the_store_tests():
    """The store-contract tests are parametrized over the engine registry: each engine has the
    fixture that gives a running one."""
    from intentkb.kb.engines import ENGINES

    from .conftest import ENGINE_SETTINGS

    assert set(ENGINES.values()) == set(ENGINE_SETTINGS)


def test_only_an_engine_knows_its_wire_format():
    """The FalkorDB bulk format and client stay inside kb/falkordb/ (the bulk tree loader hands the
    engine plain rows); the Neo4j driver inside kb/neo4j/."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        if not rel.startswith("kb/falkordb/") and not rel.startswith("testing/"):
            assert "falkordb.bulk_format" not in text and "import falkordb" not in text and "from falkordb" not in text, rel
        if not rel.startswith("kb/neo4j/"):
            assert "import neo4j" not in text, rel


def test_every_query_file_ships_in_the_package():
    """A named query outside the package data is missing from an installed intentkb (an engine's own
    `cypher/` folder was, and INTENTKB_VECTOR_BACKEND=graph failed with "no named query")."""
    import fnmatch
    import tomllib

    root = Path(__file__).parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for f in (root / "intentkb").rglob("*.cypher"):
        package = ".".join(f.parent.relative_to(root).parts)
        shipped = any(
            fnmatch.fnmatch(str(f.relative_to(root / Path(*pkg.split(".")))), pattern)
            for pkg, patterns in data.items()
            if package == pkg or package.startswith(pkg + ".")
            for pattern in patterns
        )
        assert shipped, f"{f.relative_to(root)} is not in [tool.setuptools.package-data]"
