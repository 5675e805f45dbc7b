"""The LLM client against a real HTTP server speaking the OpenAI wire format, misbehaving on cue."""

from __future__ import annotations

import asyncio
import time

import pytest

from intentkb.llm.cache import ResponseCache
from intentkb.llm.client import LLMClient, LLMFatal, Rejected
from intentkb.prompts.templates import Prompts

PRODUCT = {
    "text": "Anker 737 power bank (capacity: 24,000 mAh)",
    "title": "Anker 737 power bank",
    "details": "",
    "features": "",
    "category": None,
    "images": ["https://example.com/a.jpg"],
    "has_images": False,
}


def client_for(llm_settings, **update) -> LLMClient:
    s = llm_settings.model_copy(update=update)
    return LLMClient(s, ResponseCache(s.cache_path), Prompts())


def ask(client: LLMClient, name: str = "sib_attributes", values=None, **kw):
    async def go():
        try:
            return await client.complete(name, values or {"product": PRODUCT}, **kw)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_reply_parsed_cached_and_second_call_free(llm_server, llm_settings):
    c = client_for(llm_settings)
    r = ask(c)
    assert r.value.category and r.value.attributes and not r.cached
    assert llm_server.completions == 1
    r2 = ask(c)
    assert r2.cached and r2.value == r.value and llm_server.completions == 1
    u = c.usage.of("sib_attributes-v1")
    assert (u.calls, u.cache_hits, u.replies) == (1, 1, 1) and u.prompt_tokens > 0
    assert llm_server.auth_headers == {"Bearer sk-intentkb-test-0f4c2b9e7d1a4c55b3e8"}


@pytest.mark.parametrize("fault", ["429", "500", "slow", "malformed"])
def test_transient_faults_are_retried(llm_server, llm_settings, fault):
    llm_server.queue(fault, fault)
    c = client_for(llm_settings)
    r = ask(c)
    assert r.value.attributes
    u = c.usage.of("sib_attributes-v1")
    assert u.retries == 2 and u.calls == 3 and u.failures == 0


def test_retry_after_is_honoured(llm_server, llm_settings):
    llm_server.retry_after = "1"
    llm_server.queue("429")
    c = client_for(llm_settings)
    t = time.monotonic()
    ask(c)
    assert time.monotonic() - t >= 1.0  # the backoff alone would wait ≤ 0.05 s


def test_gives_up_after_the_retries_with_a_reason(llm_server, llm_settings):
    llm_server.queue(*["500"] * 10)
    c = client_for(llm_settings, max_retries=2)
    with pytest.raises(Rejected, match="after 2 retries: HTTP 500"):
        ask(c)
    assert llm_server.counts["500"] == 3


@pytest.mark.parametrize("fault", ["unusable", "truncated"])
def test_unusable_reply_is_corrected_once_and_never_cached(llm_server, llm_settings, fault):
    llm_server.record = True
    llm_server.queue(fault)
    c = client_for(llm_settings)
    r = ask(c)
    assert r.value.attributes
    second = llm_server.requests[-1]["messages"]
    assert second[-2]["role"] == "assistant" and "could not be used" in second[-1]["content"]
    assert c.usage.of("sib_attributes-v1").corrections == 1
    # the corrected reply is what the cache holds for the original prompt
    assert ask(client_for(llm_settings)).cached

    llm_server.queue(fault, fault)
    c2 = client_for(llm_settings)
    with pytest.raises(Rejected, match="unusable reply after one correction") as e:
        ask(c2, values={"product": {**PRODUCT, "text": "another product"}})
    assert e.value.raw  # the raw reply travels to the rejects file
    assert c2.cache.count() == 1  # only the first, usable reply


def test_sampled_replies_cached_only_with_a_seed(llm_server, llm_settings):
    ask(client_for(llm_settings, temperature=0.7))
    ask(client_for(llm_settings, temperature=0.7))
    assert llm_server.completions == 2
    ask(client_for(llm_settings, temperature=0.7, seed=1))
    ask(client_for(llm_settings, temperature=0.7, seed=1))
    assert llm_server.completions == 3


def test_wrong_key_stops_the_run(llm_server, llm_settings):
    llm_server.queue("401")
    with pytest.raises(LLMFatal, match="refused the credentials"):
        ask(client_for(llm_settings))


def test_unreachable_endpoint_stops_the_run(llm_settings):
    with pytest.raises(LLMFatal, match="cannot reach the endpoint"):
        ask(client_for(llm_settings, base_url="http://127.0.0.1:9/v1", max_retries=1))


def test_images_sent_only_to_multimodal_models(llm_server, llm_settings):
    llm_server.record = True
    ask(client_for(llm_settings, multimodal="on"), images=PRODUCT["images"])
    content = llm_server.requests[-1]["messages"][-1]["content"]
    assert isinstance(content, list) and content[1] == {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    ask(client_for(llm_settings, multimodal="auto", model="llama-3.1-8b-instruct"), images=PRODUCT["images"])
    assert isinstance(llm_server.requests[-1]["messages"][-1]["content"], str)
    assert client_for(llm_settings, multimodal="auto", model="gpt-4o-mini").settings.vision


def test_concurrency_is_bounded(llm_server, llm_settings):
    llm_server.model_latency = 0.05
    c = client_for(llm_settings, concurrency=3)

    async def go():
        await asyncio.gather(*(c.complete("sib_attributes", {"product": {**PRODUCT, "text": f"product {i}"}}) for i in range(12)))
        await c.aclose()

    asyncio.run(go())
    assert llm_server.completions == 12 and llm_server.max_in_flight == 3


def test_pieces_of_a_long_secret_are_redacted_too():
    """The audit of the first fix: an endpoint that echoed the key split in two (`sk-LEAKTES
    T9f8e7d6c5b4a3`) got it past the exact-match redaction into intentions and the cache."""
    from intentkb.private import redact

    key = "sk-LEAKTEST9f8e7d6c5b4a3"
    assert "LEAKTES" not in redact(f"Key={key[:10]} {key[10:]}", [key]) and "9f8e7d6c" not in redact(f"x {key[10:]}", [key])
    assert redact("an intention to protect a laptop on the commute", [key]) == "an intention to protect a laptop on the commute"


def test_a_key_hidden_in_json_escapes_is_redacted_once_decoded(llm_settings):
    """The audit of the second fix: the raw body was scrubbed, then `json.loads` turned
    `\\u0073\\u006b...` back into the key."""
    from intentkb.llm.client import LLMClient
    from intentkb.llm.responses import completion_of

    key = llm_settings.api_key.get_secret_value()
    content = "Buying for " + "".join(f"\\u{ord(c):04x}" for c in key)
    raw = '{"choices": [{"message": {"content": "' + content + '"}, "finish_reason": "stop"}]}'
    assert key in completion_of(raw).text  # the escapes do hide it from a scrub of the raw text
    client = LLMClient.__new__(LLMClient)
    client.settings = llm_settings
    text = client.scrubbed(completion_of(client.scrub(raw))).text
    assert key not in text and "[redacted]" in text
