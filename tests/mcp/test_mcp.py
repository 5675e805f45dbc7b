"""`intentkb mcp` driven by the `mcp` SDK's own client, over stdio and over streamable HTTP, on the
demo knowledge base as `intentkb demo` builds it: every tool against the CLI's answer, the resources
and the prompt, the errors (tool errors, never a dead server), and the HTTP guard."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from intentkb.mcp.answers import CHARS_PER_TOKEN
from intentkb.testing import free_port

PAIR = ("B005QXX0MG", "B00PYV5HGC")  # a co-buy pair of the demo's MIND records
NEED = "a present for a child who loves dinosaurs"
TOKEN = "mcp-test-token-2c9d"
HELLO = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "INTENTKB_HOME": str(home), "INTENTKB_GRAPH_URI": "embedded", **extra}
    for name in ("INTENTKB_GRAPH", "INTENTKB_MCP_TOKEN"):
        env.pop(name, None)
    env.update(extra)
    return env


def _cli(home: Path, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", *args], env=_env(home), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@asynccontextmanager
async def _stdio(home: Path, *args: str):
    params = StdioServerParameters(command=sys.executable, args=["-m", "intentkb.cli.main", "mcp", *args], env=_env(home))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=300))


async def _call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def _error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) did not fail: {result.structured_content}"
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture(scope="module")
def home(demo_home) -> Path:
    kb, run, _, _ = demo_home
    assert run.returncode == 0, run.stderr
    return kb


def test_every_tool_answers_as_the_cli_does(home: Path) -> None:
    retrieved = json.loads(_cli(home, "retrieve", NEED, "-k", "5", "--format", "json"))["products"]
    trajectories = [json.loads(line) for line in _cli(home, "trajectories", "--session", "demo-skate", "--details").splitlines()]
    labels = {r["label"]: r["count"] for r in json.loads(_cli(home, "cypher", "count_labels", "--format", "json"))}

    async def scenario() -> None:
        async with _stdio(home) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == {
                "retrieve_products", "products_for_script", "explain_copurchase", "session_trajectories",
                "run_named_query", "read_cypher", "graph_schema", "kb_status",
            }  # fmt: skip
            for t in tools.values():
                assert t.annotations is not None and t.annotations.read_only_hint is True and t.annotations.destructive_hint is False
                assert t.description and len(t.description) > 40 and t.output_schema is not None
            k_schema = tools["retrieve_products"].input_schema["properties"]["k"]
            assert (k_schema["minimum"], k_schema["maximum"]) == (1, 100)

            got = await _call(s, "retrieve_products", step_or_need=NEED, k=5)
            assert [(p["product"], p["intention"], round(p["score"], 4)) for p in got["products"]] == [
                (p["product"], p["intention"], round(p["score"], 4)) for p in retrieved
            ]
            assert not got["truncated"] and got["products"][0]["intention_text"]

            script = await _call(s, "products_for_script", objective_or_script_id="start longboarding", k=2)
            assert script["objective"] == "Start Longboarding" and [st["idx"] for st in script["steps"]] == [1, 2, 3, 4, 5]
            by_id = await _call(s, "products_for_script", objective_or_script_id=script["script"], k=2)
            assert by_id["steps"] == script["steps"]

            pair = await _call(s, "explain_copurchase", product_a=PAIR[0], product_b=PAIR[1])
            assert pair["product_a"]["id"] == PAIR[0] and pair["product_a"]["title"] and pair["intentions"]
            assert all(i["relation"] and i["text"] for i in pair["intentions"])
            verdicts = [{True: 0, None: 1, False: 2}[i["accepted"]] for i in pair["intentions"]]
            assert verdicts == sorted(verdicts)  # kept ones first
            swapped = await _call(s, "explain_copurchase", product_a=PAIR[1], product_b=PAIR[0])
            assert {i["id"] for i in swapped["intentions"]} == {i["id"] for i in pair["intentions"]}
            by_title = await _call(s, "explain_copurchase", product_a=pair["product_a"]["title"].upper(), product_b=PAIR[1])
            assert by_title["product_a"]["id"] == PAIR[0]

            paths = await _call(s, "session_trajectories", session_id="demo-skate", limit=50)
            assert paths["total"] == len(trajectories) == len(paths["trajectories"])
            assert [[st["id"] for st in t["steps"]] for t in paths["trajectories"]] == [[st["id"] for st in t["steps"]] for t in trajectories]
            assert len((await _call(s, "session_trajectories", session_id="demo-skate", limit=1))["trajectories"]) == 1

            named = await _call(s, "run_named_query", name="count_labels")
            assert {r["label"]: r["count"] for r in named["rows"]} == labels
            rows = await _call(s, "read_cypher", query="MATCH (p:Product {id: $id}) RETURN p.title AS title", params={"id": PAIR[0]})
            assert rows["rows"] == [{"title": pair["product_a"]["title"]}]
            assert (await _call(s, "read_cypher", query="count_labels"))["rows"] == named["rows"]  # a name runs the named query

            # the MCP audit: the budget was counted on compact JSON while the SDK sent it indented (4.6x)
            nested = await s.call_tool("read_cypher", {"query": "UNWIND range(1, 9999) AS r RETURN {a: {b: {c: [r]}}} AS e"})
            text = getattr(nested.content[0], "text", "")
            assert nested.structured_content and nested.structured_content["truncated"] and len(text) <= 10_000 * 4
            assert json.loads(text) == nested.structured_content

            schema = await _call(s, "graph_schema")
            assert {x["label"] for x in schema["labels"]} >= {"Product", "Intention", "Session", "Script", "Step"}
            assert {"type": "EXPLAINS", "source": "Intention", "target": "Product"}.items() <= next(
                r for r in schema["relationships"] if r["type"] == "EXPLAINS"
            ).items()
            queries = {q["name"]: q for q in schema["named_queries"]}
            assert queries["pair_cobuy_intentions"]["parameters"] == ["a", "b", "relation", "accepted_only"]
            assert not any(n.startswith(("ingest_", "gen_")) for n in queries)

            status = await _call(s, "kb_status")
            assert status["engine"] == "embedded" and status["nodes"] == labels and status["max_tokens"] == 10_000
            assert {i["name"] for i in status["indexes"]} == {"intentions", "steps", "products"}

            resources = {str(r.uri) for r in (await s.list_resources()).resources}
            assert {"intentkb://schema", "intentkb://queries"} <= resources
            text = (await s.read_resource("intentkb://queries/pair_cobuy_intentions")).contents[0]
            assert "MATCH" in getattr(text, "text", "")
            prompt = await s.get_prompt("plan_purchases", {"objective": "start longboarding"})
            assert "retrieve_products" in getattr(prompt.messages[0].content, "text", "")
            for k in ("3\n", "\u0663", "0", "101", "x", "1" * 5000):  # the attack of the MCP fixes: "Error rendering prompt", no reason
                with pytest.raises(MCPError, match="k must be a whole number from 1 to 100"):
                    await s.get_prompt("plan_purchases", {"objective": "start longboarding", "k": k})
            for objective in ("gift for my family \U0001f468\u200d\U0001f469\u200d\U0001f467", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "a\u00a0b"):
                prompt = await s.get_prompt("plan_purchases", {"objective": objective})  # the third attack: joiners and marks are text
                assert objective in getattr(prompt.messages[0].content, "text", "")
            for objective in ("a\x00b", "\x01\x02", "x\x1b[2J"):  # the second attack: control characters went into the prompt
                with pytest.raises(MCPError, match="objective"):
                    await s.get_prompt("plan_purchases", {"objective": objective})

    _run(scenario)


BOMBS = [
    "UNWIND range(1, 3000000000) AS x RETURN count(x)",
    "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*) AS n",  # stopped by the timeout
    "RETURN " + "NOT " * 400 + "true AS x",
    "UNWIND [100000] AS n RETURN size([x IN range(1, n) | range(1, n)]) AS x",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "CALL dbms.components() YIELD name RETURN name",
]


def test_bad_calls_are_tool_errors_and_the_next_call_is_answered(home: Path) -> None:
    async def scenario() -> None:
        async with _stdio(home, "--timeout", "3", "--max-rows", "500", "--max-tokens", "1000") as s:
            schema = getattr((await s.read_resource("intentkb://schema")).contents[0], "text", "")
            assert 0 < len(schema) <= 1000 * CHARS_PER_TOKEN  # the attack of the MCP fixes: cut to the limit, then sent indented (5,855 characters)
            checks = [
                ("explain_copurchase", {"product_a": "B000NOSUCH", "product_b": PAIR[1]}, "unknown product 'B000NOSUCH'"),
                ("explain_copurchase", {"product_a": PAIR[0], "product_b": PAIR[0]}, "same product"),
                ("retrieve_products", {"step_or_need": "   "}, "empty text"),
                ("retrieve_products", {"step_or_need": ""}, "step_or_need"),
                ("retrieve_products", {"step_or_need": NEED, "k": 0}, "k"),
                ("retrieve_products", {"step_or_need": NEED, "k": 101}, "k"),
                ("retrieve_products", {"step_or_need": NEED, "k": True}, "k"),  # strict: true is not 1
                ("retrieve_products", {"step_or_need": NEED, "k": "3"}, "k"),
                ("retrieve_products", {"step_or_need": NEED, "rerank": "yes"}, "rerank"),
                ("session_trajectories", {"session_id": "demo-skate", "limit": 2.5}, "limit"),
                ("retrieve_products", {"step_or_need": NEED, "rerank": True}, "no reranker"),
                ("products_for_script", {"objective_or_script_id": "build a spaceship"}, "no script"),
                ("session_trajectories", {"session_id": "no-such-session"}, "unknown session"),
                ("run_named_query", {"name": "ingest_products", "params": {"rows": []}}, "pipeline"),
                ("run_named_query", {"name": "pair_cobuy_intentions", "params": {"a": PAIR[0]}}, "give them in params"),
                ("run_named_query", {"name": "no_such_query"}, "no named query"),
                ("read_cypher", {"query": "MATCH (p:Product) DETACH DELETE p"}, "only reads"),
                ("read_cypher", {"query": "CREATE (:Product {id: 'x'}) RETURN 1"}, "only reads"),
                ("read_cypher", {"query": "UNWIND range(1, 2000) AS x RETURN x"}, "rows"),
                *[("read_cypher", {"query": q}, "") for q in BOMBS],
                ("read_cypher", {"query": BOMBS[1]}, "intentkb mcp --timeout"),  # in the server's words, not the CLI's
                # the attack of the MCP fixes: a NUL cut the engine's query short (an error quoting its header) or was retrieved for
                ("retrieve_products", {"step_or_need": "\x00"}, "NUL"),
                ("products_for_script", {"objective_or_script_id": "start\x00longboarding"}, "NUL"),
                ("explain_copurchase", {"product_a": PAIR[0] + "\x00", "product_b": PAIR[1]}, "NUL"),
                ("session_trajectories", {"session_id": "demo\x00skate"}, "NUL"),
                ("run_named_query", {"name": "trajectory_details", "params": {"session": "demo\x00skate"}}, "NUL"),
                ("read_cypher", {"query": "RETURN $x AS x", "params": {"x": "a\x00b"}}, "NUL"),
                ("read_cypher", {"query": "RETURN 'a\x00b' AS x"}, "NUL"),
            ]
            for tool, args, says in checks:
                message = await _error(s, tool, **args)
                assert says.lower() in message.lower(), (tool, args, message)
                assert (await _call(s, "read_cypher", query="RETURN 1 AS ok"))["rows"] == [{"ok": 1}]
            assert (await _call(s, "read_cypher", query="MATCH (p:Product {id: 'x'}) RETURN count(p) AS n"))["rows"] == [{"n": 0}]
            assert "cli" not in (await _error(s, "read_cypher", query="RETURN $x", params={})).lower()
            # the MCP audit: 10M wide rows, within every guard limit, took the store down; now the query stops alone
            before = (await _call(s, "kb_status"))["store"]["restarts"]["count"]
            await _error(s, "read_cypher", query="UNWIND range(1, 10000000) AS r RETURN r, $s AS s, $s + 'y' AS t, [r, r, r, r] AS l", params={"s": "x" * 80})
            assert (await _call(s, "kb_status"))["store"]["restarts"]["count"] == before

    _run(scenario)


def test_a_malformed_message_leaves_the_stdio_server_serving(home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentkb.cli.main", "mcp"], env=_env(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin and proc.stdout
    hello = HELLO
    try:
        for line in [
            "{this is not json",
            json.dumps({"jsonrpc": "2.0", "id": 7, "method": 12}),
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}),
        ]:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        answers = []
        while not any(a.get("id") == 1 for a in answers):
            answers.append(json.loads(proc.stdout.readline()))
        assert next(a for a in answers if a.get("id") == 1)["result"]["serverInfo"]["name"] == "intentkb"
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "kb_status", "arguments": {}}}) + "\n")
        proc.stdin.flush()
        while (answer := json.loads(proc.stdout.readline())).get("id") != 2:
            pass
        assert answer["result"]["structuredContent"]["engine"] == "embedded"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def http_server(home: Path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentkb.cli.main", "mcp", "--http", f"127.0.0.1:{port}"],
        env=_env(home, INTENTKB_MCP_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            urllib.request.urlopen(url, timeout=1)
        except urllib.error.HTTPError:
            break  # answering (401 without the token)
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_streamable_http_answers_with_the_token_only(http_server: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(http_server, data=body, headers={**headers, **auth}), timeout=10)
        assert refused.value.code == 401
    lower = urllib.request.Request(
        http_server,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": HELLO}).encode(),
        headers={**headers, "Authorization": f"bearer {TOKEN}"},
    )
    assert urllib.request.urlopen(lower, timeout=30).status == 200  # the scheme in any case (RFC 7235)
    # DNS rebinding: a page of another site that resolves to 127.0.0.1 sends its own Host and Origin
    rebound = {**headers, "Authorization": f"Bearer {TOKEN}", "Host": "attacker.example:80", "Origin": "http://attacker.example"}
    with pytest.raises(urllib.error.HTTPError) as bad_host:
        urllib.request.urlopen(urllib.request.Request(http_server, data=body, headers=rebound), timeout=10)
    assert bad_host.value.code in (403, 421)

    async def scenario() -> None:
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        async with client, streamable_http_client(http_server, http_client=client) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            assert len((await s.list_tools()).tools) == 8
            got = await _call(s, "retrieve_products", step_or_need=NEED, k=3)
            assert got["products"][0]["product"] == "B07PF1R8LS"
            assert "unknown product" in await _error(s, "explain_copurchase", product_a="nope", product_b=PAIR[1])
            assert (await _call(s, "kb_status"))["engine"] == "embedded"

    _run(scenario)


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("0.0.0.0:8766", "token is required"),  # off loopback the Host and Origin checks cannot work: a token or nothing
        ("http://127.0.0.1:8766", "not HOST:PORT"),
        ("256.1.1.1:8766", "not HOST:PORT"),
        ("evil host:80", "not HOST:PORT"),
        ("127.0.0.1:0", "not HOST:PORT"),
    ],
)
def test_the_http_address_is_checked_before_anything_starts(address: str, says: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "mcp", "--http", address], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and says in r.stderr and "intentkb mcp on" not in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("args", "token", "file_bytes", "says"),
    [
        (["--max-tokens", "500"], None, None, "--max-tokens"),  # the attack of the MCP fixes: a pydantic traceback
        (["--http", "127.0.0.1:\u0661\u0668\u0667\u0667\u0660"], None, None, "not HOST:PORT"),  # Arabic-Indic digits were port 18770
        (["--http", "127.0.0.1:8766"], None, b"\xff\xfetoken", "printable ASCII"),  # a UnicodeDecodeError
        (["--http", "127.0.0.1:8766"], None, b"two words\n", "without spaces"),
        (["--http", "127.0.0.1:8766"], "tok\u00e9n", None, "without spaces or control"),
    ],
)
def test_bad_limits_addresses_and_tokens_are_usage_errors(args: list[str], token: str | None, file_bytes: bytes | None, says: str, tmp_path: Path) -> None:
    extra = {"INTENTKB_MCP_TOKEN": token} if token else {}
    if file_bytes is not None:
        (tmp_path / "token").write_bytes(file_bytes)
        args = [*args, "--token-file", str(tmp_path / "token")]
    r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "mcp", *args], env=_env(tmp_path, **extra), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
