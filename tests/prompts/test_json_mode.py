"""Structured outputs and the faults of real endpoints: JSON-schema replies, the fallback to line
formats, whole-request deadlines, secrets in error texts, context overflow."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from intentkb.llm.cache import ResponseCache
from intentkb.llm.client import LLMClient, LLMFatal, Rejected
from intentkb.prompts.formats import reply_format, reply_formats, synthetic_reply
from intentkb.prompts.json_mode import json_schema, read_json
from intentkb.prompts.lines import ParseError
from intentkb.prompts.templates import PromptError, Prompts
from intentkb.testing.scripted_server import ScriptedServer

from ..conftest import TEST_API_KEY
from ..generate.test_generate import gen, load_sessions
from ..llm.test_client import PRODUCT, ask, client_for

ARGS = {
    "attributes": {},
    "intentions": {"n": 3, "comparison": True},
    "free_text": {},
    "cobuy_intention": {},
    "verdict": {},
    "objectives": {"n": 2},
    "steps": {},
    "purchase_intentions": {"n": 4},
}


@hsettings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(ARGS)), seed=st.text(max_size=20))
def test_a_json_reply_reads_as_its_line_reply(name, seed):
    """Both wire formats of one reply give one value: the JSON form of a line reply reads back equal."""
    args = ARGS[name]
    value = reply_format(name).read(synthetic_reply(name, args, seed), **args)
    assert read_json(name, json.dumps(reply_format(name).dump(value, args)), args) == value


def test_schemas_keep_to_strict_mode():
    """OpenAI's strict mode: every object closed, every field required, no $ref left."""

    def walk(node):
        if isinstance(node, dict):
            assert "$ref" not in node and "$defs" not in node
            if node.get("type") == "object":
                assert node["additionalProperties"] is False and sorted(node["required"]) == sorted(node["properties"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for name in reply_formats():
        walk(json_schema(name, {**ARGS.get(name, {}), "letters": ["A", "B", "C"], "cot": True}))
    schema = json_schema("intentions", {"n": 2, "comparison": True})["properties"]["intentions"]
    assert schema["minItems"] == schema["maxItems"] == 2
    assert list(schema["items"]["properties"]) == ["intention", "attribute", "rationale", "comparison_aspect", "comparison"]


def test_json_reply_errors_say_what_to_fix():
    with pytest.raises(ParseError, match="at least 2 items"):
        read_json("intentions", '{"intentions": []}', {"n": 2, "comparison": False})
    with pytest.raises(ParseError, match="not one JSON object"):
        read_json("verdict", "Yes, because", {})
    with pytest.raises(ParseError, match="at most 3 words"):
        read_json("attributes", '{"category": "a very long category name", "attributes": [{"name": "a", "value": "b"}]}', {})
    assert read_json("verdict", '```json\n{"answer": "No", "reason": "not together"}\n```', {}).accepted is False


def test_json_mode_sends_the_schema_and_reads_the_json(llm_server, llm_settings):
    llm_server.record = True
    reply = ask(client_for(llm_settings, output="json"))
    body = llm_server.requests[-1]
    assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["name"] == "attributes"
    assert "JSON object" in body["messages"][-1]["content"]
    assert reply.mode == "json" and json.loads(reply.text)["category"] == reply.value.category
    lines = ask(client_for(llm_settings, output="lines"))
    assert "response_format" not in llm_server.requests[-1] and lines.mode == "lines"
    # the reply format travels in the request's own fields: no header of intentkb's reaches an endpoint
    assert not {h for h in llm_server.header_names if h.startswith("x-intentkb")}
    assert llm_server.completions == 2  # the output mode is part of the cache key


@pytest.mark.parametrize("fault", ["unusable", "truncated"])
def test_json_replies_get_the_correction_round(llm_server, llm_settings, fault):
    llm_server.record = True
    llm_server.queue(fault)
    c = client_for(llm_settings, output="json")
    reply = ask(c)
    fix = llm_server.requests[-1]
    assert fix["response_format"]["json_schema"]["name"] == "attributes" and fix["messages"][-1]["content"].startswith("Your reply could not be used")
    assert reply.value.category and c.usage.total().corrections == 1


def test_auto_falls_back_to_lines_once_for_an_endpoint_without_schemas(estore, tmp_path, llm_settings):
    with ScriptedServer(schemas=False) as srv:
        srv.record = True
        llm = llm_settings.model_copy(update={"base_url": srv.url, "output": "auto", "concurrency": 8})
        load_sessions(estore, tmp_path)
        rec = gen("attributes", estore.settings, llm)
        assert rec.stages[0].written == rec.stages[0].items == 8
        assert sum("response_format" in r for r in srv.requests) == 1  # refused once, remembered for the run
        assert rec.output.startswith("lines (the endpoint refused response_format")
        assert any(line.startswith("output: lines (") for line in rec.lines())
        estore.run("MATCH (p:Product) SET p.attributes_prompt = null", write=True)
        with pytest.raises(LLMFatal, match="refuses JSON-schema response_format"):
            gen("attributes", estore.settings, llm.model_copy(update={"output": "json", "cache_path": tmp_path / "c2.sqlite"}))


def test_auto_reads_a_reply_that_ignored_the_schema_as_lines(llm_server, llm_settings, monkeypatch):
    """An endpoint that takes response_format and answers in free text anyway (older servers)."""
    monkeypatch.setattr("intentkb.testing.replies._json_reply", lambda name, text, args, seed: text)
    assert ask(client_for(llm_settings, output="auto")).value.category
    with pytest.raises(Rejected, match="not one JSON object"):
        ask(client_for(llm_settings, output="json", cache_path=llm_settings.cache_path.with_name("other.sqlite")))


def test_a_template_in_the_earlier_header_still_loads(llm_server, llm_settings, tmp_path):
    """A user's copy of a template written with `parser:`/`parser_args:` (no `reply:` line) names
    the same format; a file naming two different formats is refused, saying which line to keep."""
    own = tmp_path / "prompts"
    own.mkdir()
    text = (Path(__file__).parents[2] / "intentkb/prompts/bundled/sib_attributes.txt").read_text()
    (own / "sib_attributes.txt").write_text(text.replace("reply: attributes\n", 'parser: attributes\nparser_args: {"max_words": 3}\n'))
    t = Prompts(own).get("sib_attributes")
    assert (t.reply, t.reply_args) == ("attributes", {"max_words": 3})
    s = llm_settings.model_copy(update={"output": "json"})
    assert ask(LLMClient(s, ResponseCache(s.cache_path), Prompts(own))).mode == "json"
    (own / "sib_attributes.txt").write_text(text.replace("reply: attributes\n", "parser: verdict\nreply: attributes\n"))
    with pytest.raises(PromptError, match="name two formats"):
        Prompts(own).get("sib_attributes")


# -- faults found by a hostile test ---------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drip", "endless"])
def test_the_timeout_is_a_whole_request_deadline(estore, tmp_path, llm_server, llm_settings, fault):
    """A byte every 0.5 s (or a body without end) used to hold a request for ever."""
    load_sessions(estore, tmp_path)
    llm_server.faults, llm_server.fault_kinds = 1.0, (fault,)
    # lines: a JSON-schema request would first probe the endpoint alone, and a probe that times out
    # leaves the next request to probe alone again (6 × 2 × 1 s in a row); the deadline is the point here
    llm = llm_settings.model_copy(update={"timeout": 1.0, "max_retries": 1, "output": "lines"})
    t0 = time.monotonic()
    rec = gen("attributes", estore.settings, llm, limit=6)
    took = time.monotonic() - t0
    st_ = rec.stages[0]
    assert (st_.items, st_.rejected) == (6, 6)
    reasons = {json.loads(x)["reason"] for x in Path(st_.rejects_file).read_text().splitlines()}
    assert reasons == {"request failed after 1 retries: no complete reply within the request deadline (INTENTKB_LLM_TIMEOUT)"}
    assert took < 8, took  # 6 items × 2 attempts × 1 s on 8 slots at once, not the 90 s+ of before


def test_an_echoed_key_never_reaches_the_rejects_file(estore, tmp_path, llm_server, llm_settings):
    load_sessions(estore, tmp_path)
    llm_server.faults, llm_server.fault_kinds = 1.0, ("echo_auth",)
    rec = gen("attributes", estore.settings, llm_settings, limit=3)
    text = Path(rec.stages[0].rejects_file).read_text()
    assert rec.stages[0].rejected == 3 and "invalid header: Authorization: Bearer [redacted]" in text
    assert TEST_API_KEY not in text and "sk-intentkb" not in text


def test_credentials_in_the_base_url_are_never_printed(estore, tmp_path):
    env = {
        **os.environ,
        "INTENTKB_HOME": str(estore.settings.data_dir),
        "INTENTKB_GRAPH": estore.settings.graph_name,
        "OPENAI_API_KEY": TEST_API_KEY,
        "OPENAI_BASE_URL": "http://alice:s3cr3t-url-pass@127.0.0.1:9/v1",
        "INTENTKB_LLM_RETRIES": "0",
    }
    load_sessions(estore, tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "intentkb.cli.main", "generate", "attributes", "--limit", "1"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1 and "cannot reach the endpoint http://127.0.0.1:9/v1" in r.stderr
    assert "s3cr3t-url-pass" not in r.stderr + r.stdout and "alice" not in r.stderr and TEST_API_KEY not in r.stderr
    runs = list((estore.settings.data_dir / "runs").glob("*.json")) if (estore.settings.data_dir / "runs").exists() else []
    assert all("s3cr3t" not in p.read_text() for p in runs)


def test_a_prompt_too_long_for_the_context_is_a_reject_not_a_retry(llm_server, llm_settings):
    llm_server.queue("overflow")
    c = client_for(llm_settings)
    with pytest.raises(Rejected, match=r"does not fit the model's context.*exceeds the available context size"):
        ask(c)
    assert llm_server.counts["requests"] == 1 and c.usage.total().retries == 0


def test_the_first_json_request_probes_alone(llm_server, llm_settings):
    """Concurrency is not lost to the probe: after one answered JSON request the slots fill."""
    llm_server.model_latency = 0.05
    c = client_for(llm_settings, output="json", concurrency=4)

    async def go():
        await asyncio.gather(*(c.complete("sib_attributes", {"product": {**PRODUCT, "text": f"product {i}"}}) for i in range(12)))
        await c.aclose()

    asyncio.run(go())
    assert llm_server.completions == 12 and llm_server.max_in_flight == 4
