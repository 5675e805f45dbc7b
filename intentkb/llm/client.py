"""The LLM client every pipeline uses: cache first, then the endpoint with bounded concurrency,
jittered exponential backoff (Retry-After honoured), one correction round on an unusable reply.

Whatever goes wrong with one request ends as a `Rejected` for that item, never as a crash; only
what no retry can fix (a wrong key, an unknown model) stops the run."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..prompts.formats import Mode, reply_format, synthetic_reply
from ..prompts.json_mode import looks_like_json, read_json, response_format, shape
from ..prompts.lines import ParseError
from ..prompts.templates import Prompts, Template
from .accounting import Usage
from .cache import ResponseCache, cache_key, cacheable
from .responses import (
    Attempt,
    Deferred,
    LLMFatal,
    Rejected,
    SchemaRefused,
    attempt_of,
    completion_of,
    context_overflow,
    describe,
    estimate_tokens,
    retry_after_of,
    retryable,
    schema_refused_by,
)
from .settings import LLMSettings

__all__ = ["Deferred", "LLMClient", "LLMFatal", "PendingRequest", "Rejected", "Reply", "attempt_of"]


@dataclass
class Reply:
    value: Any
    text: str
    cached: bool
    mode: Mode = "lines"


@dataclass
class PendingRequest:
    key: str
    template: str  # prompt version, for accounting
    reply: str  # the reply format
    args: dict[str, Any]
    body: dict[str, Any]
    mode: Mode = "lines"


@dataclass
class LLMClient:
    """One per run. `complete` is safe to call from many tasks at once."""

    settings: LLMSettings
    cache: ResponseCache
    prompts: Prompts
    usage: Usage = field(default_factory=Usage)
    collect: bool = False  # batch mode: queue cache misses instead of calling
    dry: bool = False  # --dry-run: count and estimate cache misses, answer them synthetically
    pending: dict[str, PendingRequest] = field(default_factory=dict)
    live_keys: set[str] = field(default_factory=set)  # batch mode: keys the batch could not answer

    def __post_init__(self) -> None:
        self._sem: asyncio.Semaphore | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._reached = False  # an endpoint that never answered is down, not busy: stop instead of rejecting all
        self.schema_refused: str | None = None  # --output auto: why this endpoint gets line formats for the rest of the run
        self._schema_ok = False  # a JSON-schema request was answered: no more probing
        self._probe = asyncio.Lock()

    # -- set-up --------------------------------------------------------------------------------
    def _api(self) -> openai.AsyncOpenAI:
        if self._client is None:
            key = self.settings.api_key.get_secret_value()
            if not key:
                if not self.settings.base_url:
                    raise LLMFatal("OPENAI_API_KEY is not set (set it, or OPENAI_BASE_URL for a local server that needs no key)")
                key = "EMPTY"  # local servers (vLLM, Ollama, llama.cpp) accept any key
            self._client = openai.AsyncOpenAI(api_key=key, base_url=self.settings.base_url, timeout=self.settings.timeout, max_retries=0)
        return self._client

    @property
    def sem(self) -> asyncio.Semaphore:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.settings.concurrency)
        return self._sem

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def scrub(self, raw: str) -> str:
        """Every reply enters here, live or from a batch's output file, before it is parsed, cached,
        stored or written: an endpoint that echoes the request's headers (the key, the URL's
        credentials as Basic auth) must not put them into intentions, the cache or the store."""
        return self.settings.redact(raw)

    def scrubbed(self, attempt: Attempt) -> Attempt:
        """The reply's text scrubbed again once decoded: JSON `\\u` escapes hid the key from the
        scrub of the raw body."""
        return dataclasses.replace(attempt, text=self.scrub(attempt.text))

    # -- requests ------------------------------------------------------------------------------
    def mode_of(self, template: Template) -> Mode:
        """How this template's reply is asked for in this run: JSON when its format has a JSON form
        and the endpoint has not refused response_format (auto) or JSON was asked for."""
        if not reply_format(template.reply).json or self.settings.output == "lines" or (self.settings.output == "auto" and self.schema_refused):
            return "lines"
        return "json"

    def params(self, template: Template, mode: Mode = "lines", args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Generation parameters; JSON carries keys, quotes and indentation, so its token limit is
        twice the template's (a limit, not a target: a reply stops where its JSON ends)."""
        p: dict[str, Any] = {"temperature": self.settings.temperature, "max_tokens": template.max_tokens * (2 if mode == "json" else 1)}
        if self.settings.seed is not None:
            p["seed"] = self.settings.seed
        if mode == "json":
            p["response_format"] = response_format(template.reply, args or {})
        return p

    def messages(
        self,
        template: Template,
        values: dict[str, Any],
        images: Sequence[str] = (),
        image_limit: int | None = None,
        mode: Mode = "lines",
        args: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The rendered template; image URLs become image parts of the last user message when the
        model takes images, and are left out otherwise. At most `image_limit` of them (default: the
        setting's per-product limit for a pair). In JSON mode the last user message ends with the
        reply's shape (`json_reply` template)."""
        msgs: list[dict[str, Any]] = template.render(**values)
        last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
        if mode == "json":
            hint = self.prompts.get("json_reply").render(shape=shape(template.reply, args or {}))
            msgs[last] = {"role": "user", "content": msgs[last]["content"] + "\n\n" + "\n".join(m["content"] for m in hint)}
        limit = self.settings.max_images * 2 if image_limit is None else image_limit
        urls = [u for u in images if u][:limit] if self.settings.vision else []
        if urls:
            msgs[last] = {
                "role": "user",
                "content": [{"type": "text", "text": msgs[last]["content"]}, *({"type": "image_url", "image_url": {"url": u}} for u in urls)],
            }
        return msgs

    def key_of(self, template: Template, messages: list[dict[str, Any]], mode: Mode = "lines", params: dict[str, Any] | None = None) -> str:
        """The cache key: the output mode is part of it (a JSON reply never answers a lines request)."""
        return cache_key(self.settings.model, messages, {**(params or self.params(template)), "output": mode}, template.prompt_version)

    async def complete(
        self, name: str, values: dict[str, Any], *, images: Sequence[str] = (), image_limit: int | None = None, correct: bool = True, **reply_args: Any
    ) -> Reply:
        """The parsed reply of template `name` filled with `values` (`correct`: one correction
        round on an unusable reply; evaluation turns it off, as its protocol asks).

        Raises Rejected (the item cannot be produced now), Deferred (batch mode) or LLMFatal."""
        template = self.prompts.get(name)
        mode = self.mode_of(template)
        if self.settings.output == "json" and not reply_format(template.reply).json:
            raise LLMFatal(f"reply format {template.reply!r} of {template.source} has no JSON form: use --llm-output lines or auto (INTENTKB_LLM_OUTPUT)")
        try:
            return await self._complete(template, mode, values, images, image_limit, correct, reply_args)
        except SchemaRefused as e:
            if self.settings.output != "auto":
                raise LLMFatal(
                    f"the endpoint {self.settings.endpoint} refuses JSON-schema response_format ({e}): use --llm-output lines or auto (INTENTKB_LLM_OUTPUT)"
                ) from None
            self.schema_refused = self.schema_refused or str(e)
            return await self._complete(template, "lines", values, images, image_limit, correct, reply_args)

    async def _complete(
        self, template: Template, mode: Mode, values: dict[str, Any], images: Sequence[str], image_limit: int | None, correct: bool, reply_args: dict[str, Any]
    ) -> Reply:
        args = {**template.reply_args, **reply_args}
        messages = self.messages(template, values, images, image_limit, mode, args)
        params = self.params(template, mode, args)
        key = self.key_of(template, messages, mode, params)
        usage = self.usage.of(template.prompt_version)
        keep = cacheable(params)
        if keep:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    value = self.parse(template.reply, mode, hit.reply, args)
                except ParseError:
                    pass  # a reader got stricter since: ask again
                else:
                    usage.cache_hits += 1
                    usage.saved_prompt_tokens += hit.prompt_tokens
                    usage.saved_completion_tokens += hit.completion_tokens
                    return Reply(value, hit.reply, True, mode)
        if self.dry:
            usage.calls += 1
            usage.prompt_tokens += estimate_tokens(messages)
            usage.completion_tokens += template.expect_tokens * int(args.get("n", 1))
            text = synthetic_reply(template.reply, args, key)
            return Reply(self.parse(template.reply, "lines", text, args), text, False, mode)
        if self.collect and keep and key not in self.live_keys:
            self.pending[key] = PendingRequest(
                key, template.prompt_version, template.reply, args, {"model": self.settings.model, "messages": messages, **params}, mode=mode
            )
            raise Deferred(key)

        final = await self._call(messages, params, usage)
        spent = (final.prompt_tokens, final.completion_tokens)
        corrected = False
        try:
            value = self.read(final, template.reply, mode, args)
        except ParseError as e:
            if not correct:
                usage.failures += 1
                raise Rejected(f"unusable reply: {e}", raw=self.settings.redact(final.text)) from None
            usage.corrections += 1
            corrected = True
            fix = self.prompts.get("correction").render(error=str(e).rstrip("."))
            final = await self._call([*messages, {"role": "assistant", "content": final.text}, *fix], params, usage)
            spent = (spent[0] + final.prompt_tokens, spent[1] + final.completion_tokens)
            try:
                value = self.read(final, template.reply, mode, args)
            except ParseError as e2:
                usage.failures += 1
                raise Rejected(f"unusable reply after one correction: {e2}", raw=self.settings.redact(final.text)) from None
        if keep:  # the usable reply, corrected or not, answers the original prompt from now on
            self.cache.put(key, template.prompt_version, self.settings.model, final.text, *spent, corrected=corrected)
        usage.replies += 1
        return Reply(value, final.text, False, mode)

    def parse(self, reply: str, mode: Mode, text: str, args: dict[str, Any]) -> Any:
        """A reply's value in format `reply`: JSON mode reads its model; with --output auto a reply
        that is no JSON at all (an endpoint that took the schema and ignored it) is read as lines."""
        if mode == "json" and not (self.settings.output == "auto" and not looks_like_json(text)):
            return read_json(reply, text, args)
        return reply_format(reply).read(text, **args)

    def read(self, attempt: Attempt, reply: str, mode: Mode, args: dict[str, Any]) -> Any:
        """The parsed reply; a cut-off or filtered reply is unusable whatever its text (live and batch)."""
        if attempt.finish == "length":
            raise ParseError("the reply was cut off at the token limit; answer more briefly")
        if attempt.finish == "content_filter":
            raise ParseError("the reply was withheld by the content filter")
        return self.parse(reply, mode, attempt.text, args)

    def _wait(self, state: RetryCallState) -> float:
        jitter = wait_random_exponential(multiplier=self.settings.backoff_base, max=self.settings.backoff_max)(state)
        exc = state.outcome.exception() if state.outcome else None
        return max(jitter, min(retry_after_of(exc), 600.0) if exc else 0.0)

    async def _post(self, api: openai.AsyncOpenAI, body: dict[str, Any]) -> str:
        """One request under the whole-request deadline: the HTTP client's timeout is per read, so
        a server trickling a byte at a time (or an endless body) would hold it for ever."""
        async with asyncio.timeout(self.settings.timeout):
            # the documented raw-request path (`client.post`): the typed `create` spends
            # more CPU transforming params and building response models than the HTTP call
            return await api.post("/chat/completions", cast_to=str, body=body)

    async def _call(self, messages: list[dict[str, Any]], params: dict[str, Any], usage: Any) -> Attempt:
        """One usable completion, retried as needed. The first JSON-schema request of a run goes
        alone: if the endpoint refuses response_format, it is refused once, not once per slot."""
        if "response_format" not in params or self._schema_ok:
            return await self._call_retrying(messages, params, usage)
        async with self._probe:
            if self.schema_refused:
                raise SchemaRefused(self.schema_refused)
            if not self._schema_ok:
                try:
                    reply = await self._call_retrying(messages, params, usage)
                except SchemaRefused as e:
                    self.schema_refused = str(e)
                    raise
                # (a probe that failed otherwise is that item's reject; the next JSON request probes again)
                self._schema_ok = True
                return reply
        return await self._call_retrying(messages, params, usage)

    async def _call_retrying(self, messages: list[dict[str, Any]], params: dict[str, Any], usage: Any) -> Attempt:
        def _count_retry(state: RetryCallState) -> None:
            usage.retries += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            before_sleep=_count_retry,
            reraise=True,
        )
        api = self._api()
        redact = self.settings.redact
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.sem:
                        usage.calls += 1
                        raw = await self._post(api, {"model": self.settings.model, "messages": messages, **params})
                    reply = self.scrubbed(completion_of(self.scrub(raw)))
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise LLMFatal(redact(f"the endpoint refused the credentials: {describe(e)}")) from None
        except openai.NotFoundError as e:
            raise LLMFatal(redact(f"model {self.settings.model!r} or endpoint not found: {describe(e)}")) from None
        except Exception as e:
            if isinstance(e, openai.APIConnectionError) and not isinstance(e, openai.APITimeoutError) and not self._reached:
                raise LLMFatal(redact(f"cannot reach the endpoint {self.settings.endpoint} ({describe(e)}); nothing was answered in this run")) from None
            if "response_format" in params and schema_refused_by(e):
                raise SchemaRefused(redact(describe(e))) from None
            usage.failures += 1
            if context_overflow(e):
                raise Rejected(redact(f"the prompt does not fit the model's context: {describe(e)}")) from None
            raise Rejected(
                redact(f"request failed after {self.settings.max_retries} retries: {describe(e)}" if retryable(e) else f"request refused: {describe(e)}")
            ) from None
        self._reached = True
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        return reply
