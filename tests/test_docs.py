"""Every snippet of README.md and docs/*.md works, so the docs cannot drift from the code.

- Every `intentkb …` command in a bash block is parsed by the CLI's own click parser down to its
  leaf command (unknown commands and options, bad choices, missing arguments fail; nothing runs).
  Inline `intentkb …` spans in the prose are parsed too, with `--help` appended (they may name a
  command without its arguments).
- Python and Cypher blocks, and bash blocks marked `<!-- run -->`, run for real, in document order,
  in a workspace that looks like a clone's root after `intentkb demo --data-dir ./kb`: the demo's
  knowledge base in ./kb (built once for this module), the bundled data under intentkb/demo/data.
- A block that cannot run here is marked `<!-- not run: reason -->` on the line before it; a bash
  block that is neither marked nor made only of `intentkb` commands (and shell plumbing) fails.
- The README's test command is `.ci/run`'s, and every copy of it in the docs is the same.

INTENTKB_DOCS_ROOT points the checks at another copy of the docs (README.md, docs/, .ci/run).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from intentkb.kb.falkordb import EmbeddedServer

from .conftest import short_tmpdir

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("INTENTKB_DOCS_ROOT") or REPO)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SHELL, PYTHON, CYPHER, OUTPUT = {"bash", "sh", "shell"}, {"python"}, {"cypher"}, {"text", "json"}
MARK = re.compile(r"<!--\s*(?:(?P<run>run)|not run:(?P<reason>[^>]*?))\s*-->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)")
# commands a block may hold besides `intentkb` and still be covered by parsing alone
PLUMBING = {"export", "cd", "cat", "printf", "echo", "head", "tail", "mkdir", "kill", "sleep"}
OPERATORS = set("();<>|&")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    mark: str | None  # "run", "not run" or None
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def runs(self) -> bool:
        if self.mark == "not run":
            return False
        return self.lang in PYTHON | CYPHER or (self.lang in SHELL and self.mark == "run")


def read_blocks(page: Path) -> tuple[list[Block], int]:
    """The fenced blocks of a page, each with the mark on the nearest non-blank line above it, and
    the number of marks in the page, each a line of its own (a mark that precedes no block is a mistake)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = "\n".join(x[len(indent) :] if x.startswith(indent) else x.lstrip() for x in lines[i + 1 : end])
        above = i - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        mark = MARK.fullmatch(lines[above].strip()) if above >= 0 else None
        kind = None if mark is None else ("run" if mark["run"] else "not run")
        found.append(Block(page, i + 1, lang, body, kind, (mark["reason"] or "").strip() if mark else ""))
        i = end + 1
    return found, sum(bool(MARK.fullmatch(x.strip())) for x in lines)


BLOCKS = [b for page in PAGES for b in read_blocks(page)[0]]


def commands(body: str) -> list[list[str]]:
    """The simple commands of a shell snippet: `\\` continuations joined, quotes spanning lines
    kept whole, `#` comments dropped, split at pipes, `&&`, `;` and `&`; redirections with their
    targets and leading `VAR=value` assignments left out."""
    logical: list[str] = []
    buf = ""
    for line in body.splitlines():
        buf += line
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        try:
            shlex.split(buf, comments=True)
        except ValueError:  # a quote still open: the command goes on on the next line
            buf += "\n"
            continue
        logical.append(buf)
        buf = ""
    assert not buf.strip(), f"unterminated command: {buf!r}"
    out: list[list[str]] = []
    for text in logical:
        assert "<<" not in shlex.split(text, comments=True), "here-documents are not supported: write the file in a Python block"
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        cmd: list[str] = []
        skip = False
        for tok in tokens:
            if skip:
                skip = False
                continue
            if tok and set(tok) <= OPERATORS:
                if "<" in tok or ">" in tok:  # a redirection: drop its fd number and its target
                    if cmd and cmd[-1].isdigit():
                        cmd.pop()
                    skip = True
                    continue
                out.append(cmd)
                cmd = []
                continue
            cmd.append(tok)
        out.append(cmd)
    simple = []
    for cmd in out:
        while cmd and re.match(r"^[A-Za-z_]\w*=", cmd[0]):
            cmd = cmd[1:]
        if cmd:
            simple.append(cmd)
    return simple


def parse_cli(args: list[str]) -> None:
    """Parse `intentkb ARGS` as the CLI would, walking into each group's subcommand, without
    invoking anything. `--help` is an answer, not an error."""
    from intentkb.cli.main import cli

    try:
        ctx = cli.make_context("intentkb", list(args))
        cmd: click.Command = cli
        while isinstance(cmd, click.Group):
            rest = [*ctx._protected_args, *ctx.args]
            if not rest:
                raise click.UsageError(f"`{ctx.command_path}` needs a command", ctx)
            name, sub, rest = cmd.resolve_command(ctx, rest)
            assert name is not None and sub is not None
            ctx = sub.make_context(name, rest, parent=ctx)
            cmd = sub
    except click.exceptions.Exit as e:
        if e.exit_code:
            raise


@pytest.fixture
def paths_need_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input files of the snippets exist only where they run: parse `click.Path(exists=True)`
    values without looking for them."""
    convert = click.Path.convert

    def lenient(self: click.Path, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        exists, self.exists = self.exists, False
        try:
            return convert(self, value, param, ctx)
        finally:
            self.exists = exists

    monkeypatch.setattr(click.Path, "convert", lenient)


def intentkb_lines(block: Block) -> list[list[str]]:
    return [cmd[1:] for cmd in commands(block.body) if cmd[0] == "intentkb"]


# -- coverage: every block is parsed, run, or marked ----------------------------------------------


def test_every_block_is_covered_or_marked() -> None:
    tally: Counter[str] = Counter()
    problems = []
    for page in PAGES:
        blocks, marks = read_blocks(page)
        if marks != sum(b.mark is not None for b in blocks):
            problems.append(f"{page.name}: a <!-- run --> or <!-- not run: … --> mark that precedes no code block")
        for b in blocks:
            if b.mark == "not run" and not b.reason:
                problems.append(f"{b.id}: 'not run' without its reason")
            if b.lang in OUTPUT:
                tally["output or format (not code)"] += 1
            elif b.lang in PYTHON | CYPHER:
                tally[f"{b.lang}: run" if b.runs else f"{b.lang}: not run ({b.reason})"] += 1
            elif b.lang in SHELL:
                cmds = commands(b.body)
                others = sorted({c[0] for c in cmds if c[0] != "intentkb" and c[0] not in PLUMBING})
                if b.mark == "run":
                    tally["bash: run"] += 1
                elif b.mark == "not run":
                    tally["bash: intentkb lines parsed, the rest not run"] += 1
                elif others:
                    problems.append(f"{b.id}: runs {', '.join(others)}: mark it <!-- run --> or <!-- not run: reason -->")
                elif not any(c[0] == "intentkb" for c in cmds):
                    problems.append(f"{b.id}: no intentkb command to parse: mark it")
                else:
                    tally["bash: parsed"] += 1
            else:
                problems.append(f"{b.id}: a ```{b.lang or '(no language)'} block: use bash, python, cypher, text or json")
    print("\n".join(f"{n:4}  {what}" for what, n in sorted(tally.items())))
    assert not problems, "\n".join(problems)
    assert tally["python: run"] and tally["cypher: run"] and tally["bash: run"]


def test_the_readme_recipes_run() -> None:
    """The README's three uses are run, not only parsed."""
    readme = [b for b in BLOCKS if b.page.name == "README.md"]
    assert sum(b.mark == "run" for b in readme) >= 3


def test_the_readme_test_command_is_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    copies = [
        (b.id, line.split("    #")[0].strip())
        for b in BLOCKS
        if b.lang in SHELL
        for line in b.body.splitlines()
        if line.startswith("pip install torch==2.13.0 '.[dev]'")
    ]
    assert any(where.startswith("README.md:") for where, _ in copies), "the README has no test command"
    assert [(where, cmd) for where, cmd in copies if cmd != ci] == [], f".ci/run runs: {ci}"


# -- every intentkb command parses -----------------------------------------------------------------

SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_intentkb_commands_parse(block: Block, paths_need_not_exist: None) -> None:
    failures = []
    for args in intentkb_lines(block):
        try:
            parse_cli(args)
        except click.ClickException as e:
            failures.append(f"intentkb {shlex.join(args)}\n    {e.format_message()}")
    assert not failures, f"{block.id}:\n" + "\n".join(failures)


def test_inline_commands_parse(paths_need_not_exist: None) -> None:
    failures = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        prose = re.sub(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", "", text, flags=re.M | re.S)
        for span in re.findall(r"`(intentkb [^`]+)`", prose):
            if "…" in span:
                continue
            args = shlex.split(span)[1:] + ["--help"]
            try:
                parse_cli(args)
            except click.ClickException as e:
                failures.append(f"{page.name}: `{span}`: {e.format_message()}")
    assert not failures, "\n".join(failures)


# -- the snippets that run, in the demo's knowledge base -------------------------------------------


@pytest.fixture(scope="module")
def workspace(demo_home: tuple[Path, subprocess.CompletedProcess[str], float, bool]) -> Iterator[tuple[Path, dict[str, str]]]:
    """A directory that looks like a clone's root after `intentkb demo --data-dir ./kb`, with
    `intentkb` and `python` on PATH running this tree's code."""
    w = short_tmpdir("ikdoc-")
    (w / "intentkb").symlink_to(REPO / "intentkb", target_is_directory=True)
    shims = w / ".bin"
    shims.mkdir()
    for name, run in (("intentkb", f'"{sys.executable}" -m intentkb.cli.main "$@"'), ("python", f'"{sys.executable}" "$@"')):
        (shims / name).write_text(f"#!/bin/sh\nexec {run}\n")
        (shims / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "PYTHONPATH": str(REPO), "INTENTKB_HOME": "./kb", "INTENTKB_GRAPH_URI": "embedded"}
    for var in ("INTENTKB_GRAPH", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(var, None)
    try:
        # what `intentkb demo --data-dir ./kb` leaves: the session's demo run (tests/conftest.py), copied
        home, demo, _, _ = demo_home
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        shutil.copytree(home, w / "kb", ignore=shutil.ignore_patterns("*.sock"))
        yield w, env
    finally:
        EmbeddedServer(w / "kb").stop()
        shutil.rmtree(w, ignore_errors=True)


RUNNABLE = [b for b in BLOCKS if b.runs]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_snippet_runs(block: Block, workspace: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    w, env = workspace
    if block.lang in SHELL:
        run_shell(block, w, env)
        return
    monkeypatch.chdir(w)
    for var, value in env.items():
        if var.startswith(("INTENTKB_", "PATH")):
            monkeypatch.setenv(var, value)
    if block.lang in PYTHON:
        exec(compile(block.body, block.id, "exec"), {"__name__": "__docs__"})
    else:
        from intentkb import Settings, open_store

        with open_store(Settings(data_dir=w / "kb")) as store:
            rows = store.run(block.body)
        assert rows, f"{block.id}: the query returned no rows on the demo's knowledge base"


def run_shell(block: Block, w: Path, env: dict[str, str]) -> None:
    """bash -euo pipefail in its own process group, output to a file (a background job left
    behind by a failure must not hold a pipe open); whatever it left running is ended after."""
    log = w / ".block.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block.body], cwd=w, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=300)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    assert code == 0, f"{block.id} exited {code}:\n{log.read_text()[-4000:]}"
