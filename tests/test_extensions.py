"""Each kind of extension is one new file (or class) plus one registration, shown by adding a toy
one; and every registry is a plugin point: a package installed beside intentkb adds one of each
kind through entry points alone (tests/plugin), and the CLI shows them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intentkb.kb import engines
from intentkb.kb.engines import open_store

PLUGIN = Path(__file__).parent / "plugin"
PACKAGE = Path(__file__).parents[1] / "intentkb"

_PROBE = """
import json
from click.testing import CliRunner
from intentkb.cli.main import cli
from intentkb.kb.engines import store_class
from intentkb.prompts.formats import reply_formats
from intentkb.prompts.templates import Prompts
from intentkb.retrieval.backends import candidates
from intentkb.retrieval.embeddings import Embedder

r = CliRunner()
out = {k: r.invoke(cli, args).output for k, args in {
    "list": ["tasks", "list"], "root": ["--help"], "hello": ["toy-hello"], "export": ["tasks", "export", "--help"],
    "generate": ["generate", "--help"], "bad_scheme": ["--graph-uri", "nope://x", "stats"]}.items()}
out["formats"] = list(reply_formats())
out["candidates"] = candidates()
out["engine"] = store_class("toydb://local").__name__
out["template"] = Prompts().get("task_toybench_t1").reply
e = Embedder("toy", None, backend="toyhash")
out["shape"], out["key"] = list(e.encode(["a", "b", "a"]).shape), e.key
print(json.dumps(out))
"""


def installed(site: Path, name: str, modules: dict[str, str], entry_points: str) -> Path:
    """`site` as pip leaves a package installed there: its modules and a dist-info with its entry
    points (importlib.metadata finds it on the path)."""
    site.mkdir(parents=True, exist_ok=True)
    for module, body in modules.items():
        (site / f"{module}.py").write_text(body)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return site


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """tests/plugin installed as pip installs any package (built, with its entry points), into a
    directory of its own that only the probe's interpreter sees."""
    target = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), str(PLUGIN)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path_factory.mktemp("build"))
    assert list(target.glob("intentkb_toyplugin-*.dist-info/entry_points.txt"))
    return target


def test_an_installed_package_extends_every_registry(installed_plugin):
    env = {**os.environ, "PYTHONPATH": str(installed_plugin)}
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "toybench-t1" in out["list"] and "is this a session?" in out["list"]  # a benchmark
    assert "toytsv" in out["export"] and "toybench" in out["export"]  # an export format, the benchmark's choice
    assert "toygen" in out["generate"]  # a generation pipeline
    assert "toy_yesno" in out["formats"]  # a reply format
    # an embedding backend: its own vectors, under a key of their own; --precision auto measures only the model's runtimes
    assert out["shape"] == [3, 8] and out["key"] == "toy@toyhash" and ["toyhash", "float32"] not in out["candidates"]
    assert out["engine"] == "ToyStore" and "toydb" in out["bad_scheme"]  # an engine, by its URI scheme
    assert "toy-hello" in out["root"] and out["hello"].strip() == "hello from the toy plugin"  # commands
    assert out["template"] == "choice"  # its task template, found in its own package


def test_without_the_package_none_of_it_is_there():
    from intentkb.prompts.formats import reply_formats
    from intentkb.tasks.registry import benchmarks

    assert "toybench" not in benchmarks() and "toy_yesno" not in reply_formats() and "toydb" not in engines.engines()


def test_a_broken_plugin_is_reported_and_the_rest_still_loads(installed_plugin, tmp_path):
    """A plugin whose import fails costs its own entries only (a warning names it)."""
    broken = installed(
        tmp_path / "site",
        "broken-plugin",
        {"broken_plugin": "raise ImportError('missing dependency of the plugin')\n"},
        "[intentkb.benchmarks]\nbroken = broken_plugin:BENCHMARK\n\n[intentkb.commands]\nbroken = broken_plugin\n",
    )
    env = {**os.environ, "PYTHONPATH": f"{broken}{os.pathsep}{installed_plugin}"}
    res = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "tasks", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "toybench" in res.stdout and "sib-t1" in res.stdout
    assert "broken" in res.stderr and "missing dependency of the plugin" in res.stderr


def test_an_engine_is_its_folder_and_its_own_queries_come_first(estore, tmp_path, monkeypatch):
    """A new engine: its store class in its folder, a `cypher/` folder with its own version of a
    named query (the shared file is untouched), and one line naming its URI scheme."""
    pkg = tmp_path / "toyengine"
    (pkg / "cypher").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "store.py").write_text("from intentkb.kb.falkordb import EmbeddedStore\n\n\nclass ToyStore(EmbeddedStore):\n    kind = 'toy'\n")
    (pkg / "cypher" / "count_labels.cypher").write_text("// the toy engine's own count\nRETURN 'Toy' AS label, 42 AS n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(engines.ENGINES, "toy", "toyengine.store:ToyStore")  # the one registration
    with open_store(estore.settings.model_copy(update={"graph_uri": "toy://local"})) as toy:
        assert toy.kind == "toy" and toy.query_overrides == "toyengine"
        assert toy.run("count_labels") == [{"label": "Toy", "n": 42}]
    assert {"label": "Toy", "n": 42} not in estore.run("count_labels")  # the shared query, for the other engines


def test_a_stage_and_a_reply_format_run_end_to_end(estore, tmp_path, llm_server, llm_settings, monkeypatch):
    """A new generation stage (in a new pipeline) asking through a template in a new reply format:
    the format's class and its registration, the stage's function, its template file. The scripted
    server answers it in that format because the format says how (`synthetic`)."""
    from intentkb.generate.pipeline import _PIPELINES, Pipeline, PipelineOptions, Stage, register
    from intentkb.generate.run import run_generation
    from intentkb.generate.stage import Outcome
    from intentkb.ingest import ingest_file
    from intentkb.prompts.formats import _FORMATS, ReplyFormat, register_format
    from intentkb.prompts.lines import ParseError
    from intentkb.prompts.templates import Prompts

    class YesNo(ReplyFormat):
        name, json = "yes_no_toy", False

        def read(self, text, **args):
            word = text.strip().split(" ")[0].strip(".,").lower()
            if word not in ("yes", "no"):
                raise ParseError("answer Yes or No")
            return word == "yes"

        def synthetic(self, rng, args):
            return rng.choice(["Yes.", "No."])

    async def check_titles(ctx, options):
        async def work(row, emit):
            reply = await ctx.client.complete("toy_check", {"title": row["title"]})
            return Outcome(writes=[("gen_product_props", {"id": row["id"], "props": {"toy_sellable": reply.value}})])

        rows = ctx.store.run("MATCH (p:Product) RETURN p.id AS id, p.title AS title ORDER BY id")
        return await ctx.run_stage("toy", "check", rows, work, lambda r: {"product": r["id"]}, order=["gen_product_props"])

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "toy_check.txt").write_text("version: 1\nreply: yes_no_toy\n--- user\nWould a shop sell the product titled {{ title }}? Answer Yes or No.\n")
    register_format(YesNo())
    register(Pipeline(name="toy", summary="A toy.", example="intentkb generate toy", options=PipelineOptions, stages=(Stage("check", check_titles),)))
    try:
        ingest_file(estore, "products", PACKAGE / "demo" / "data" / "products.csv", rejects_path=tmp_path / "p.rejects")
        llm_server.use_prompts(Prompts(prompts))
        rec = run_generation("toy", estore.settings, llm_settings.model_copy(update={"prompts_dir": prompts}), {})
        products = estore.run("MATCH (p:Product) RETURN count(p) AS n")[0]["n"]
        assert rec.stages[0].written == products > 0 and rec.stages[0].rejected == 0
        answers = estore.run("MATCH (p:Product) RETURN p.toy_sellable AS v")
        assert {a["v"] for a in answers} <= {True, False} and len(answers) == products
    finally:
        _FORMATS.unregister("yes_no_toy")
        _PIPELINES.unregister("toy")


_HOSTILE = '''
import numpy as np
from pydantic import Field

from intentkb.retrieval.backends import EncoderBackend
from intentkb.tasks.items import YES_NO, make_item
from intentkb.tasks.registry import Benchmark, BuildOptions


def _build(store, settings, tasks, options, stats):
    return iter(())


class Kinds(BuildOptions):
    band: tuple[float, float] = Field(default=(0.0, 0.1), description="its own band")
    pair: tuple[int, int] = Field(default=(1, 2), description="two whole numbers")
    tags: list[str] = Field(default_factory=lambda: ["alpha", "beta"], description="some tags")
    shout: bool = Field(default=True, description="on unless turned off")


KINDS = Benchmark(name="kinds", title="t", tasks={"kinds-t1": "x"}, options=Kinds, build=_build)


class Hash(EncoderBackend):
    name, precisions = "hashvec", ("float32",)

    def load(self, e, threads):
        return None, 1

    def dim(self, model):
        return 64

    def encode(self, model, texts, e):
        v = np.ones((len(texts), 64), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


HASH = Hash()


def attach(root):
    import click

    @root.command("tasks")
    def hijack():
        """Not intentkb's tasks."""
        click.echo("hijacked")
'''

# one module each: a Benchmark that is refused fails its module's import
_BAD = {
    "hostile_nohelp": "class O(BuildOptions):\n    depth: int = 3\n\n\nB = Benchmark(name='nohelp', title='t', tasks={'nohelp-t1': 'x'}, options=O, build=_b)\n",
    "hostile_clash": "class O(BuildOptions):\n    limit: int = Field(default=5, description='the export cap')\n\n\nB = Benchmark(name='clash', title='t', tasks={'clash-t1': 'x'}, options=O, build=_b)\n",
    "hostile_dashed": "B = Benchmark(name='my-bench', title='t', tasks={'my-bench-t1': 'x'}, options=BuildOptions, build=_b)\n",
}
_BAD_HEAD = "from pydantic import Field\n\nfrom intentkb.tasks.registry import Benchmark, BuildOptions\n\n\ndef _b(*a):\n    return iter(())\n\n\n"

_HOSTILE_ENTRIES = """[intentkb.benchmarks]
nohelp = hostile_nohelp:B
clash = hostile_clash:B
dashed = hostile_dashed:B
kinds = hostile_plugin:KINDS

[intentkb.embedders]
hashvec = hostile_plugin:HASH

[intentkb.commands]
hostile = hostile_plugin

[intentkb.templates]
typo = hostile_plugin_typo:templates

[intentkb.engines]
bolt = hostile_plugin:Nothing
"""

_HOSTILE_PROBE = """
import json
from click.testing import CliRunner
from intentkb.cli.main import cli
from intentkb.kb.engines import store_class
from intentkb.prompts.templates import Prompts
from intentkb.retrieval.backends import candidates
from intentkb.retrieval.embeddings import Embedder, embedding_key
from intentkb.tasks.registry import benchmarks

r = CliRunner()
out = {"benchmarks": list(benchmarks()), "candidates": candidates(), "engine": store_class("bolt://x").__name__}
out["list"] = r.invoke(cli, ["tasks", "list"]).output
out["help"] = r.invoke(cli, ["tasks", "export", "--help"], terminal_width=240).output
out["template"] = Prompts().get("task_sib_t1").source
out["keys"] = [embedding_key("all-MiniLM-L6-v2", "float32", "hashvec"), embedding_key("all-MiniLM-L6-v2", "float32", "onnx")]
print(json.dumps(out))
"""


def test_a_careless_plugin_costs_only_its_own_entries(tmp_path):
    """Found by a plugin author's audit: a benchmark option without help, or named like a flag of
    `tasks export`, took every command down or broke the other benchmarks' exports; a command could
    replace intentkb's; a wrong template entry broke every plugin template; a hash backend's vectors
    went into the model's cache. Each is now a warning naming the plugin, and the rest works."""
    site = installed(tmp_path / "site", "hostile-plugin", {"hostile_plugin": _HOSTILE, **{n: _BAD_HEAD + b for n, b in _BAD.items()}}, _HOSTILE_ENTRIES)
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-c", _HOSTILE_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out, err = json.loads(res.stdout), res.stderr
    assert "kinds" in out["benchmarks"] and not {"nohelp", "clash", "my-bench"} & set(out["benchmarks"])
    assert "option 'depth' has no description" in err and "option 'limit' is a name the command has already" in err and "'my-bench'" in err
    assert "sib-t1" in out["list"] and "hijacked" not in out["list"] and "may not replace intentkb tasks;" in err
    assert "hostile_plugin_typo" in err and out["template"].startswith("intentkb/tasks/sib/templates/")
    assert out["engine"] == "Neo4jStore" and "scheme 'bolt' is not used" in err
    assert ["hashvec", "float32"] not in out["candidates"] and out["keys"][0].endswith("@hashvec") and "@" not in out["keys"][1]
    # a flag not given leaves the benchmark its own default; an on-by-default flag can be turned off
    assert "kinds: its own band [default: 0.0,0.1]" in out["help"] and "iqa: cosine similarity band" in out["help"]
    assert "--shout / --no-shout" in out["help"] and "--pair N,N" in out["help"].replace("LOW,HIGH", "N,N")


def test_flags_not_given_leave_each_benchmark_its_own_defaults(monkeypatch):
    """A shared flag (`--band`) given to one benchmark does not set the other's default; tuple and
    list options read from the command line."""
    from click.testing import CliRunner

    from intentkb.cli import tasks as cli_tasks
    from intentkb.cli.main import cli

    seen: dict = {}
    monkeypatch.setattr(
        "intentkb.export.tasks.export_tasks", lambda store, settings, opts, **kw: seen.setdefault("opts", opts) and (_ for _ in ()).throw(SystemExit(0))
    )
    monkeypatch.setattr("intentkb.kb.engines.open_store", lambda settings: _NullStore())
    CliRunner().invoke(cli, ["tasks", "export", "-b", "iqa", "-o", "x.jsonl"])
    assert "band" not in (seen["opts"].model_extra or {})  # not given: iqa's own default applies
    seen.clear()
    CliRunner().invoke(cli, ["tasks", "export", "-b", "iqa", "--band", "0.2,0.9", "-o", "x.jsonl"])
    assert seen["opts"].model_extra == {"band": (0.2, 0.9)}
    assert cli_tasks.BENCHMARKS["iqa"].options.model_validate(seen["opts"].model_dump()).band == (0.2, 0.9)


class _NullStore:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


_NEIGHBOURS = {
    "n_flag": "class O(BuildOptions):\n    quick: bool = Field(default=False, description='x', json_schema_extra={'flag': '-b'})\n\n\n"
    "B = Benchmark(name='flagged', title='t', tasks={'flagged-t1': 'x'}, options=O, build=_b)\n",
    "n_shared": "from typing import Literal\n\n\nclass O(BuildOptions):\n    negatives: Literal['few', 'many'] = Field(default='few', description='x')\n\n\n"
    "B = Benchmark(name='shared', title='t', tasks={'shared-t1': 'x'}, options=O, build=_b)\n",
    "n_nested": "class Inner(BaseModel):\n    a: int = 1\n\n\nclass O(BuildOptions):\n    inner: Inner = Field(default_factory=Inner, description='x')\n\n\n"
    "B = Benchmark(name='nested', title='t', tasks={'nested-t1': 'x'}, options=O, build=_b)\n",
    "n_pipe": "class P(PipelineOptions):\n    nodesc: int = 1\n\n\nPIPE = Pipeline(name='undocumented', summary='s', example='e', options=P, stages=())\n",
    "n_pipe2": "class P(PipelineOptions):\n    output: str = Field(default='x', description='clashes with --output')\n\n\n"
    "PIPE = Pipeline(name='clashing', summary='s', example='e', options=P, stages=())\n",
    "n_writer": "from intentkb.export.writers import Writer\n\n\nclass W(Writer):\n    name, help = 'two words', 'h'\n",
    "n_cmd": "import click\n\n\ndef attach(root):\n    @root.commands['tasks'].command('list')\n    def hijack():\n        click.echo('HIJACKED')\n\n"
    "    root.params[1].default = '/tmp/hijacked-home'\n",
}
_NEIGHBOUR_HEAD = (
    "from pydantic import BaseModel, Field\n\nfrom intentkb.generate.pipeline import Pipeline, PipelineOptions\n"
    "from intentkb.tasks.registry import Benchmark, BuildOptions\n\n\ndef _b(*a):\n    return iter(())\n\n\n"
)
_NEIGHBOUR_ENTRIES = """[intentkb.benchmarks]
flagged = n_flag:B
shared = n_shared:B
nested = n_nested:B

[intentkb.pipelines]
undocumented = n_pipe:PIPE
clashing = n_pipe2:PIPE

[intentkb.export_formats]
words = n_writer:W

[intentkb.commands]
cmd = n_cmd
"""


def test_the_neighbours_of_a_careless_plugin_cost_only_their_own_entries(tmp_path):
    """A second audit's neighbours: a flag alias taking `-b`, one option name with two types, a
    nested model as an option, a pipeline option without help or named like `generate`'s own, a
    format name a command line cannot carry, a subcommand replaced inside a group and a root
    option's default changed. Each is refused or undone, with a note; `tasks export` and
    `generate --help` keep working."""
    modules = {n: (_NEIGHBOUR_HEAD if n != "n_cmd" else "") + b for n, b in _NEIGHBOURS.items()}
    site = installed(tmp_path / "site", "neighbours", modules, _NEIGHBOUR_ENTRIES)
    env = {**os.environ, "PYTHONPATH": str(site), "INTENTKB_HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intentkb.cli.main", *args], capture_output=True, text=True, env=env, timeout=120)

    listed = run("tasks", "list")
    assert listed.returncode == 0 and "sib-t1" in listed.stdout and "HIJACKED" not in listed.stdout
    err = listed.stderr
    assert "flagged" not in listed.stdout and "its flag -b is taken" in err
    assert "option 'negatives' is esb's too" in err and "a flag cannot carry" in err
    assert "may not replace intentkb tasks list, --data-dir" in err
    gen = run("generate", "--help")
    assert gen.returncode == 0 and "undocumented" not in gen.stdout and "attributes" in gen.stdout
    assert "option 'nodesc' has no description" in gen.stderr and "option 'output' is a name the command has already" in gen.stderr
    fmt = run("tasks", "export", "--help")
    assert fmt.returncode == 0 and "export format name 'two words'" in fmt.stderr
    bad = run("tasks", "export", "-b", "esb", "--negatives", "many", "-o", str(tmp_path / "x.jsonl"))
    assert bad.returncode == 2 and "many" in bad.stderr  # esb's int flag, not the refused plugin's Literal
    assert not (tmp_path / "hijacked-home").exists()
