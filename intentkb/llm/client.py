"""The LLM client every pipeline uses: cache first, then the endpoint with bounded concurrency,
jittered exponential backoff (Retry-After honoured), one correction round on an unusable reply.

Whatever goes wrong with one request ends as a `Rejected` for that item, never as a crash; only
what no retry can fix (a wrong key, an unknown model) stops the run."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import IntentKBError
from .accounting import Usage
from .cache import ResponseCache, cache_key, cacheable
from .parsing import PARSERS, ParseError
from .prompts import Prompts, Template
from .settings import LLMSettings
from .synthetic import synthetic_reply


class LLMFatal(IntentKBError):
    """The endpoint refuses every request (key, permission, model): stop instead of rejecting all."""


class Rejected(Exception):
    """One item could not be produced; `reason` and the raw reply go to the rejects file."""

    def __init__(self, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class Deferred(Exception):
    """Batch mode: the request was queued for the Batch API; the item is finished on a later round."""


@dataclass
class Reply:
    value: Any
    text: str
    cached: bool


@dataclass
class PendingRequest:
    key: str
    template: str  # prompt version, for accounting
    parser: str
    args: dict[str, Any]
    body: dict[str, Any]


@dataclass
class _Attempt:
    text: str
    finish: str | None
    prompt_tokens: int
    completion_tokens: int


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens, estimated without a tokenizer: 4 characters a token, 85 an image (low detail),
    4 per message of chat framing. Good to ±15 % on English text."""
    total = 0
    for m in messages:
        content = m["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            total += 85 if part.get("type") == "image_url" else len(part.get("text", "")) // 4
        total += 4
    return total


def _retry_after(exc: BaseException) -> float:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), 0 when it did not say."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return 0.0
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return 0.0
    try:
        return max(0.0, float(raw))
    except ValueError:
        when = email.utils.parsedate_to_datetime(raw)
        return max(0.0, when.timestamp() - time.time()) if when else 0.0


class MalformedResponse(ValueError):
    """A 200 whose body is not a chat completion: a proxy's page, a cut connection; worth a retry."""


def attempt_of(data: dict[str, Any]) -> _Attempt:
    """The reply text, finish reason and token counts of a chat completion object (raises on
    anything else: KeyError, IndexError, TypeError, AttributeError)."""
    choice = data["choices"][0]
    text = choice["message"].get("content") or ""
    usage = data.get("usage") or {}
    return _Attempt(text, choice.get("finish_reason"), int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _completion(raw: str) -> _Attempt:
    try:
        return attempt_of(json.loads(raw))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise MalformedResponse(f"not a chat completion ({type(e).__name__}): {raw[:200]!r}") from None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                        openai.InternalServerError, openai.APIResponseValidationError, MalformedResponse)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


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

    # -- set-up --------------------------------------------------------------------------------
    def _api(self) -> openai.AsyncOpenAI:
        if self._client is None:
            key = self.settings.api_key.get_secret_value()
            if not key:
                if not self.settings.base_url:
                    raise LLMFatal("OPENAI_API_KEY is not set (set it, or OPENAI_BASE_URL for a local server that needs no key)")
                key = "EMPTY"  # local servers (vLLM, Ollama, llama.cpp) accept any key
            self._client = openai.AsyncOpenAI(api_key=key, base_url=self.settings.base_url,
                                              timeout=self.settings.timeout, max_retries=0)
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

    # -- requests ------------------------------------------------------------------------------
    def params(self, template: Template) -> dict[str, Any]:
        p: dict[str, Any] = {"temperature": self.settings.temperature, "max_tokens": template.max_tokens}
        if self.settings.seed is not None:
            p["seed"] = self.settings.seed
        return p

    def messages(self, template: Template, values: dict[str, Any], images: Sequence[str] = (),
                 image_limit: int | None = None) -> list[dict[str, Any]]:
        """The rendered template; image URLs become image parts of the last user message when the
        model takes images, and are left out otherwise. At most `image_limit` of them (default: the
        setting's per-product limit for a pair)."""
        msgs: list[dict[str, Any]] = template.render(**values)
        limit = self.settings.max_images * 2 if image_limit is None else image_limit
        urls = [u for u in images if u][:limit] if self.settings.vision else []
        if urls:
            last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
            msgs[last] = {"role": "user", "content": [{"type": "text", "text": msgs[last]["content"]},
                                                      *({"type": "image_url", "image_url": {"url": u}} for u in urls)]}
        return msgs

    def key_of(self, template: Template, messages: list[dict[str, Any]]) -> str:
        return cache_key(self.settings.model, messages, self.params(template), template.prompt_version)

    async def complete(self, name: str, values: dict[str, Any], *, images: Sequence[str] = (), image_limit: int | None = None,
                       **parser_args: Any) -> Reply:
        """The parsed reply of template `name` filled with `values`.

        Raises Rejected (the item cannot be produced now), Deferred (batch mode) or LLMFatal."""
        template = self.prompts.get(name)
        parse = PARSERS[template.parser or "free_text"]
        args = {**template.parser_args, **parser_args}
        messages = self.messages(template, values, images, image_limit)
        params = self.params(template)
        key = self.key_of(template, messages)
        usage = self.usage.of(template.prompt_version)
        keep = cacheable(params)
        if keep:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    value = parse(hit.reply, **args)
                except ParseError:
                    pass  # a reader got stricter since: ask again
                else:
                    usage.cache_hits += 1
                    usage.saved_prompt_tokens += hit.prompt_tokens
                    usage.saved_completion_tokens += hit.completion_tokens
                    return Reply(value, hit.reply, True)
        if self.dry:
            usage.calls += 1
            usage.prompt_tokens += estimate_tokens(messages)
            usage.completion_tokens += template.expect_tokens * int(args.get("n", 1))
            text = synthetic_reply(template.parser or "free_text", args, key)
            return Reply(parse(text, **args), text, False)
        if self.collect and keep and key not in self.live_keys:
            self.pending[key] = PendingRequest(key, template.prompt_version, template.parser or "free_text", args,
                                               {"model": self.settings.model, "messages": messages, **params})
            raise Deferred(key)

        final = await self._call(messages, params, usage)
        spent = (final.prompt_tokens, final.completion_tokens)
        corrected = False
        try:
            value = self.read(final, parse, args)
        except ParseError as e:
            usage.corrections += 1
            corrected = True
            fix = self.prompts.get("correction").render(error=str(e).rstrip("."))
            final = await self._call([*messages, {"role": "assistant", "content": final.text}, *fix], params, usage)
            spent = (spent[0] + final.prompt_tokens, spent[1] + final.completion_tokens)
            try:
                value = self.read(final, parse, args)
            except ParseError as e2:
                usage.failures += 1
                raise Rejected(f"unusable reply after one correction: {e2}", raw=final.text) from None
        if keep:  # the usable reply, corrected or not, answers the original prompt from now on
            self.cache.put(key, template.prompt_version, self.settings.model, final.text, *spent, corrected=corrected)
        usage.replies += 1
        return Reply(value, final.text, False)

    @staticmethod
    def read(attempt: _Attempt, parse: Any, args: dict[str, Any]) -> Any:
        """The parsed reply; a cut-off or filtered reply is unusable whatever its text (live and batch)."""
        if attempt.finish == "length":
            raise ParseError("the reply was cut off at the token limit; answer more briefly")
        if attempt.finish == "content_filter":
            raise ParseError("the reply was withheld by the content filter")
        return parse(attempt.text, **args)

    def _wait(self, state: RetryCallState) -> float:
        jitter = wait_random_exponential(multiplier=self.settings.backoff_base, max=self.settings.backoff_max)(state)
        exc = state.outcome.exception() if state.outcome else None
        return max(jitter, min(_retry_after(exc), 600.0) if exc else 0.0)

    async def _call(self, messages: list[dict[str, Any]], params: dict[str, Any], usage: Any) -> _Attempt:
        def _count_retry(state: RetryCallState) -> None:
            usage.retries += 1

        retrying = AsyncRetrying(stop=stop_after_attempt(self.settings.max_retries + 1), wait=self._wait,
                                 retry=retry_if_exception(_retryable), before_sleep=_count_retry, reraise=True)
        api = self._api()
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.sem:
                        usage.calls += 1
                        # the documented raw-request path (`client.post`): the typed `create` spends
                        # more CPU transforming params and building response models than the HTTP call
                        raw = await api.post("/chat/completions", cast_to=str,
                                             body={"model": self.settings.model, "messages": messages, **params})
                    reply = _completion(raw)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise LLMFatal(f"the endpoint refused the credentials: {_describe(e)}") from None
        except openai.NotFoundError as e:
            raise LLMFatal(f"model {self.settings.model!r} or endpoint not found: {_describe(e)}") from None
        except Exception as e:  # noqa: BLE001 - every other failure is this item's, never the run's
            if isinstance(e, openai.APIConnectionError) and not isinstance(e, openai.APITimeoutError) and not self._reached:
                raise LLMFatal(f"cannot reach the endpoint {self.settings.base_url or 'api.openai.com'} "
                               f"({_describe(e)}); nothing was answered in this run") from None
            usage.failures += 1
            raise Rejected(f"request failed after {self.settings.max_retries} retries: {_describe(e)}" if _retryable(e)
                           else f"request refused: {_describe(e)}") from None
        self._reached = True
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        return reply
