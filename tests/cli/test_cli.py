"""The CLI: read-only enforcement, parameters as data, output formats, ingest summaries."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.demo import data_path

from ..conftest import FIXTURES


@pytest.fixture
def run(server_dir, tmp_path):
    env = {"INTENTKB_HOME": str(server_dir), "INTENTKB_GRAPH": f"c{uuid.uuid4().hex[:12]}", "INTENTKB_GRAPH_URI": "embedded"}
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    yield invoke
    invoke("cypher", "--write", "MATCH (n) DETACH DELETE n")


def test_cypher_is_read_only_unless_write(run):
    r = run("cypher", "CREATE (n:Product {id: 'X'}) RETURN n.id AS id")
    assert r.exit_code == 1 and "--write" in r.output
    assert json.loads(run("cypher", "--format", "json", "MATCH (n) RETURN count(n) AS n").output) == [{"n": 0}]
    r = run("cypher", "--write", "--format", "json", "CREATE (n:Product {id: 'X'}) RETURN n.id AS id")
    assert r.exit_code == 0 and json.loads(r.output) == [{"id": "X"}]
    for query in ["MATCH (n) DETACH DELETE n", "MATCH (n) SET n.title = 'x'", "MERGE (n:Product {id: 'Y'})"]:
        r = run("cypher", query)
        assert r.exit_code == 1, query
    assert json.loads(run("cypher", "--format", "json", "MATCH (n) RETURN count(n) AS n").output) == [{"n": 1}]


def test_parameters_stay_data(run):
    run("cypher", "--write", "CREATE (:Product {id: 'P1', title: 'lamp'})")
    hostile = "P1'}) DETACH DELETE n //"
    r = run("cypher", "--format", "json", "-p", f"id={hostile}", "MATCH (p:Product) WHERE p.id = $id RETURN p.id AS id")
    assert r.exit_code == 0 and json.loads(r.output) == []
    r = run("cypher", "--format", "json", "-p", "id=P1", "-p", "n=2", "MATCH (p:Product {id: $id}) RETURN p.title AS t, $n + 1 AS m")
    assert json.loads(r.output) == [{"t": "lamp", "m": 3}]
    assert json.loads(run("cypher", "--format", "json", "MATCH (n) RETURN count(n) AS n").output) == [{"n": 1}]
    assert run("cypher", "-p", "no-equals-sign", "RETURN 1").exit_code == 2


def test_output_formats_and_named_queries(run):
    assert run("ingest", "trees", str(data_path("trees.jsonl"))).exit_code == 0
    table = run("cypher", "session_products", "-p", "session=demo-puzzle")
    assert table.exit_code == 0 and "B07MX21WWX" in table.output and "(3 rows)" in table.output
    rows = list(csv.DictReader(io.StringIO(run("cypher", "--format", "csv", "session_products", "-p", "session=demo-puzzle").output)))
    assert [r["pos"] for r in rows] == ["1", "2", "3"]
    names = run("cypher", "--list").output
    for name in ("trajectories", "trajectory_details", "session_tree", "product_intentions", "pair_cobuy_intentions"):
        assert name in names
    assert "$a $b $relation $accepted_only" in names and "gen_cobuy_pairs_page" not in names and "--list --all" in names
    assert "gen_cobuy_pairs_page" in run("cypher", "--list", "--all").output
    # a missing parameter names itself (the engine only says "Missing parameters")
    r = run("cypher", "pair_cobuy_intentions", "-p", "a=B005QXX0MG")
    assert r.exit_code == 1 and "missing parameters $b, $relation, $accepted_only: give -p b=VALUE" in r.output
    r = run("cypher", "MATCH (p:Product) WHERE p.id = $id AND p.title <> '$not_a_param' RETURN p  // $nor_this")
    assert r.exit_code == 1 and "missing parameter $id: give -p id=VALUE" in r.output
    r = run("retrieve")
    assert r.exit_code == 2 and 'intentkb retrieve "keep my coffee hot' in r.output
    lines = run("trajectories").output.strip().splitlines()
    assert len([json.loads(x) for x in lines if x.startswith("{")]) == 12
    detailed = [json.loads(x) for x in run("trajectories", "--session", "demo-doll", "--details").output.splitlines() if x.startswith("{")]
    assert len(detailed) == 4 and all(len(d["steps"]) == 3 for d in detailed)


def test_ingest_and_stats_commands(run, tmp_path):
    bad = tmp_path / "iqa.jsonl"
    bad.write_text((FIXTURES / "intentionqa_sample.jsonl").read_text() + "{broken\n")
    r = run("ingest", "cobuy", str(bad), "--rejects", str(tmp_path / "rej.jsonl"))
    assert r.exit_code == 0
    assert f"{bad}:9: rejected: invalid JSON" in r.output
    assert "read 9 = loaded 8 + rejected 1" in r.output
    assert json.loads((tmp_path / "rej.jsonl").read_text())["line"] == 9
    stats = json.loads(run("stats", "--format", "json").output)
    assert stats["nodes"]["Intention"] == 8 and stats["edges"]["EXPLAINS"] == 16
    assert sum(x["intentions"] for x in stats["relations"]) == 8
    r = run("ingest", "sessions", str(FIXTURES / "coscript_sample.jsonl"))
    assert r.exit_code == 1 and r.output.count("\n") <= 2 and "missing columns" in r.output


def test_every_command_has_help_with_an_example():
    """Every command, walked from the group: an example on its own line after "Example:", and help
    text on every option."""
    import re

    import click

    def walk(cmd, path):
        if isinstance(cmd, click.Group):  # through click's own listing: `generate` builds its subcommands on demand
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), [*path, name])
        else:
            yield path, cmd

    runner = CliRunner()
    commands = list(walk(cli, []))
    assert len(commands) >= 27
    for path, cmd in commands:
        out = runner.invoke(cli, [*path, "--help"]).output
        assert re.search(r"^\s*Examples?:\n\s+.*\bintentkb ", out, re.M), path
        assert not re.search(r"^\s*Examples?:[ \t]+\S", out, re.M), path  # never on the same line
        assert all(p.help for p in cmd.params if isinstance(p, click.Option) and not p.hidden), path


def test_every_options_field_is_the_option_the_cli_shows():
    """A `# type: ignore` comment inside MindOptions' Field(...) call commented out its description
    and flag: `generate mind --help` showed `--stages` with the help text "stages" (issue 27).
    Every field of every pipeline's options model must appear under its declared flag, with its
    description as help."""
    import click

    from intentkb.generate.pipeline import pipelines

    group = cli.get_command(click.Context(cli), "generate")
    assert isinstance(group, click.Group)
    for name, pipeline in pipelines().items():
        cmd = group.get_command(click.Context(group), name)
        assert cmd is not None, name
        shown = {o.name: o for o in cmd.params if isinstance(o, click.Option)}
        for field, info in pipeline.options.model_fields.items():
            if field in pipeline.options.RUN_FIELDS:
                continue  # the common options of every pipeline (--batch, --dry-run, progress)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            flag = extra.get("flag") or "--" + field.replace("_", "-")
            assert field in shown, (name, field)
            assert flag in shown[field].opts, (name, field, shown[field].opts)
            assert info.description and shown[field].help == info.description, (name, field)


def test_table_cells_are_cut_at_a_word_boundary():
    from intentkb.cli.output import _cell

    text = "Products that scored intentions lead to: co-buy and purchase intentions explain them"
    assert _cell(text, 40) == "Products that scored intentions lead…"
    assert _cell("x" * 50, 10) == "x" * 9 + "…"  # one long word: cut inside it
    assert _cell("short", 40) == "short" and len(_cell(text, 40)) <= 40


def test_the_demo_says_it_does_not_run_on_another_store():
    res = CliRunner().invoke(cli, ["--graph-uri", "bolt://localhost:7687", "demo"])
    assert res.exit_code == 2 and "the demo builds on the embedded store, not on bolt://localhost:7687" in res.output


def test_serve_refuses_the_graph_vector_backend_on_the_embedded_store(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from intentkb.cli.main import cli

    monkeypatch.setenv("INTENTKB_VECTOR_BACKEND", "graph")
    out = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--port", "1"])
    assert out.exit_code == 2 and "needs a Neo4j store" in out.output


def test_serve_off_loopback_needs_a_token(tmp_path, monkeypatch):
    """As `intentkb mcp --http`: off loopback the Host check cannot know the server's names (it
    used to warn and serve anyone who reached the address)."""
    from click.testing import CliRunner

    from intentkb.cli.main import cli

    monkeypatch.delenv("INTENTKB_SERVE_TOKEN", raising=False)
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        out = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--host", host, "--port", "1"])
        assert out.exit_code == 2 and "needs a token" in out.output, out.output


def test_the_cli_does_not_ask_a_server_that_embeds_with_another_model(tmp_path):
    """A server started with another embedding model (or vector backend) answers other questions:
    `intentkb retrieve` works locally instead of silently taking its answer."""
    import json
    import os

    from intentkb.config import Settings
    from intentkb.retrieval.embeddings import settings_key
    from intentkb.serve.running import find_server, record_path

    settings = Settings(data_dir=tmp_path)
    record = {"url": "http://127.0.0.1:9", "pid": os.getpid(), "graph": settings.graph_name, "token": None, "model": "another-model", "vectors": "faiss"}
    record_path(settings).write_text(json.dumps(record))
    assert find_server(settings) is None
    record.update(model=settings_key(settings), vectors="graph")
    record_path(settings).write_text(json.dumps(record))
    assert find_server(settings) is None
