"""Fixtures: a real embedded FalkorDB server for the session (never mocked), a fresh graph per
test, and the same contract tests against Neo4j when NEO4J_URI points at a throwaway database."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intentkb.config import Settings
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb import EmbeddedServer, EmbeddedStore
from intentkb.kb.store import GraphStore

FIXTURES = Path(__file__).parent / "fixtures"
NEO4J_SKIP = "no Neo4j: NEO4J_URI is not set and Java or Maven is missing, so tests/neo4j/local cannot start one; Neo4j variants skipped"
LOCAL_NEO4J = Path(__file__).parent / "neo4j" / "local"


def short_tmpdir(prefix: str) -> Path:
    """Under /tmp: a unix socket path must stay under ~104 characters."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture(scope="session")
def server_dir() -> Iterator[Path]:
    d = short_tmpdir("ikbt-")
    srv = EmbeddedServer(d)
    srv.start()
    yield d
    srv.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory of its own (own server), for life-cycle and crash tests."""
    d = short_tmpdir("ikbd-")
    yield d
    EmbeddedServer(d).stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def embedded_settings(server_dir: Path) -> Settings:
    return Settings(data_dir=server_dir, graph_uri="embedded", graph_name=f"t{uuid.uuid4().hex[:12]}")


def _drop(store: GraphStore) -> None:
    store.drop()


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    """NEO4J_URI when set (a throwaway database: the tests empty it); else a local Neo4j 5 that
    tests/neo4j/local starts from Maven Central for this session; else the Neo4j variants skip."""
    uri = os.environ.get("NEO4J_URI")
    if uri:
        yield uri
        return
    if not (shutil.which("java") and shutil.which("mvn")):
        pytest.skip(NEO4J_SKIP)
    d = short_tmpdir("ikbn-")
    out = subprocess.run([str(LOCAL_NEO4J), "start", str(d)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        pytest.fail(f"tests/neo4j/local could not start Neo4j: {out.stderr.strip()[-1500:]}")
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(LOCAL_NEO4J), "stop", str(d)], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


# How a test gets a running store of each engine in the registry (kb/engines.py): the fixture that
# gives its Settings. Every test using `store` runs on each; a new engine adds its line here
# (tests/test_structure.py fails until it does).
ENGINE_SETTINGS = {"intentkb.kb.falkordb:EmbeddedStore": "embedded_settings", "intentkb.kb.neo4j:Neo4jStore": "neo4j_settings"}
_MARKS = {"intentkb.kb.neo4j:Neo4jStore": [pytest.mark.neo4j]}


def _engine_params() -> list[Any]:
    from intentkb.kb.engines import ENGINES

    return [pytest.param(t, id=t.split(":")[0].rsplit(".", 1)[1], marks=_MARKS.get(t, [])) for t in dict.fromkeys(ENGINES.values())]


@pytest.fixture(params=_engine_params())
def store(request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    """The store contract: every test using this runs on each engine of the registry."""
    st = open_store(request.getfixturevalue(ENGINE_SETTINGS[request.param]))
    if not st.is_empty():  # an outside server may hold a previous run's data
        _drop(st)
    yield st
    _drop(st)
    st.close()


@pytest.fixture
def neo4j_settings(neo4j_uri: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, graph_uri=neo4j_uri)


@pytest.fixture
def estore(embedded_settings: Settings) -> Iterator[GraphStore]:
    """The embedded store alone, for behaviour specific to it."""
    st = open_store(embedded_settings)
    yield st
    _drop(st)
    st.close()


@pytest.fixture(scope="session", autouse=True)
def shared_onnx_dir() -> Iterator[Path]:
    """One ONNX export of the default model for the whole session (~20 s each), wherever a test's
    INTENTKB_HOME is: exports depend on the model alone."""
    d = short_tmpdir("ikbx-")
    before = os.environ.get("INTENTKB_ONNX_DIR")
    os.environ["INTENTKB_ONNX_DIR"] = str(d)
    yield d
    if before is None:
        os.environ.pop("INTENTKB_ONNX_DIR", None)
    else:
        os.environ["INTENTKB_ONNX_DIR"] = before
    shutil.rmtree(d, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    import sys

    fuzz = sys.modules.get("tests.test_fuzz_readers")
    if fuzz is not None and fuzz.TOTALS["files"]:
        t = fuzz.TOTALS
        terminalreporter.write_line(
            f"reader fuzz: {t['files']} files, {t['records']} records ({t['good']} good), loaded {t['loaded']}, "
            f"rejected {t['rejected']}, crashes {t['crashes']}, good records lost {t['lost']}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get("NEO4J_URI"):
        return f"neo4j variants: on {os.environ['NEO4J_URI']}"
    if shutil.which("java") and shutil.which("mvn"):
        return "neo4j variants: on a local Neo4j 5 started by tests/neo4j/local"
    return "neo4j variants: skipped (no NEO4J_URI, no Java/Maven)"


# -- LLM: a real HTTP server on 127.0.0.1 speaking the OpenAI wire format -------------------------

TEST_API_KEY = "sk-intentkb-test-0f4c2b9e7d1a4c55b3e8"


@pytest.fixture
def llm_server():
    from intentkb.testing.scripted_server import ScriptedServer

    with ScriptedServer(slow_seconds=2.5) as srv:
        yield srv


@pytest.fixture
def llm_settings(llm_server, tmp_path: Path):
    """Fast retries and a short deadline (1.5 s for a whole request: enough for any reply of the
    scripted server on a busy 2-core machine, short enough that a "slow" fault costs seconds).
    Tests of faults at scale shorten it further for themselves."""
    from pydantic import SecretStr

    from intentkb.llm.settings import LLMSettings

    return LLMSettings(
        api_key=SecretStr(TEST_API_KEY),
        base_url=llm_server.url,
        model="gpt-4o-mini",
        concurrency=8,
        timeout=1.5,
        max_retries=4,
        backoff_base=0.01,
        backoff_max=0.05,
        temperature=0.0,
        seed=None,
        multimodal="off",
        prompts_dir=None,
        price=None,
        cache_path=tmp_path / "llm_cache.sqlite",
    )


# -- a real llama.cpp server with a small model from PyPI ----------------------------------------

LLAMA_SLOTS = 2  # parallel slots = the client's concurrency: 2 cores


@pytest.fixture(scope="session")
def llama_server():
    """xllamacpp's OpenAI-compatible server with SmolLM2-135M-Instruct on 127.0.0.1 for the
    session; skipped, with the reason, when either package is missing."""
    from intentkb.testing.llamacpp import LlamaServer, Unavailable

    try:
        srv = LlamaServer(parallel=LLAMA_SLOTS)
    except Unavailable as e:
        pytest.skip(f"no real LLM server: {e}")
    with srv:
        yield srv


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    from intentkb.retrieval.embeddings import Embedder, EmbeddingCache
    from intentkb.retrieval.models import DEFAULT_MODEL

    return Embedder(DEFAULT_MODEL, EmbeddingCache(tmp_path_factory.mktemp("emb") / "embeddings.sqlite"))


@pytest.fixture(scope="session")
def demo_kb(embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GraphStore, Settings]]:
    """The demo knowledge base, indexed and aligned, in a data directory (and server) of its own,
    built once for the task, export, evaluation and view tests."""
    from intentkb.demo import DEMO_FILES, data_path
    from intentkb.ingest import ingest_file
    from intentkb.retrieval.align import align_steps
    from intentkb.retrieval.build import build_indexes

    d = short_tmpdir("ikbd-")
    settings = Settings(data_dir=d, graph_uri="embedded")
    rejects = tmp_path_factory.mktemp("rejects")
    store = open_store(settings)
    for kind, name, fmt in DEMO_FILES:
        assert ingest_file(store, kind, data_path(name), fmt=fmt, rejects_path=rejects / name).rejected == 0
    build_indexes(store, settings, embedder=embedder)
    align_steps(store, settings, embedder=embedder)
    yield store, settings
    store.close()
    EmbeddedServer(d).stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def neighbours(demo_kb, embedder):
    from intentkb.retrieval.retrieve import Retriever

    return Retriever(demo_kb[0], demo_kb[1], embedder=embedder, hybrid=False)


@pytest.fixture(scope="session")
def demo_home() -> Iterator[tuple[Path, subprocess.CompletedProcess[str], float, bool]]:
    """`intentkb demo` as a user runs it, once a session: INTENTKB_HOME set and no --data-dir,
    offline (proxies pointing nowhere), umask 022. Its home, its output, how long it took and whether
    its store was left running; the demo's own test reads them, the docs test copies the home as a
    clone's ./kb."""
    import sys
    import time

    d = short_tmpdir("ikbh-")
    env = {
        **os.environ,
        "INTENTKB_GRAPH_URI": "embedded",
        "INTENTKB_HOME": str(d / "kb"),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    env.pop("INTENTKB_GRAPH", None)
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "demo"], env=env, capture_output=True, text=True, timeout=180, umask=0o022)
    elapsed = time.monotonic() - t
    left_running = EmbeddedServer(d / "kb").status().running  # now: later users of this home start its store again
    try:
        yield d / "kb", r, elapsed, left_running
    finally:
        EmbeddedServer(d / "kb").stop()
        shutil.rmtree(d, ignore_errors=True)
