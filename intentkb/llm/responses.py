"""The OpenAI wire as intentkb reads it: the errors a request can end in, what a completion
holds, which failures are worth a retry (and after how long), and the reply header that names the
format a request asks for. No state: `client.py` holds the run's client."""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import openai

from ..errors import IntentKBError


class LLMFatal(IntentKBError):
    """The endpoint refuses every request (key, permission, model): stop instead of rejecting all."""


class Rejected(Exception):
    """One item could not be produced; `reason` and the raw reply go to the rejects file."""

    def __init__(self, reason: str, raw: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class SchemaRefused(Exception):
    """The endpoint refused the request's `response_format` (no structured outputs there)."""


class Deferred(Exception):
    """Batch mode: the request was queued for the Batch API; the item is finished on a later round."""


@dataclass
class Attempt:
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


def retry_after_of(exc: BaseException) -> float:
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


def attempt_of(data: dict[str, Any]) -> Attempt:
    """The reply text, finish reason and token counts of a chat completion object (raises on
    anything else: KeyError, IndexError, TypeError, AttributeError)."""
    choice = data["choices"][0]
    text = choice["message"].get("content") or ""
    usage = data.get("usage") or {}
    return Attempt(text, choice.get("finish_reason"), int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def completion_of(raw: str) -> Attempt:
    try:
        return attempt_of(json.loads(raw))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise MalformedResponse(f"not a chat completion ({type(e).__name__}): {raw[:200]!r}") from None


OVERFLOW = re.compile(
    r"context[ _](?:length|size|window)|maximum context|too many (?:input )?tokens|prompt is too long"
    r"|exceeds? the (?:available|maximum|model)|input is too long|reduce the length",
    re.IGNORECASE,
)
SCHEMA_WORDS = re.compile(r"response_format|json_schema|json schema|structured output|grammar|schema", re.IGNORECASE)


def status_text(exc: BaseException) -> str | None:
    """The error text of an HTTP error reply (message and body), None for any other failure."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    body = exc.body if isinstance(exc.body, (str, dict)) else ""
    return f"{exc.message} {json.dumps(body) if isinstance(body, dict) else body}"


def context_overflow(exc: BaseException) -> bool:
    """The prompt does not fit the model's context: no retry can fix that."""
    text = status_text(exc)
    return text is not None and exc.status_code in (400, 413, 422, 500) and bool(OVERFLOW.search(text))  # type: ignore[attr-defined]


def schema_refused_by(exc: BaseException) -> bool:
    text = status_text(exc)
    return text is not None and exc.status_code in (400, 422, 501) and bool(SCHEMA_WORDS.search(text)) and not OVERFLOW.search(text)  # type: ignore[attr-defined]


def retryable(exc: BaseException) -> bool:
    if context_overflow(exc):
        return False
    if isinstance(exc, TimeoutError):  # the whole-request deadline
        return True
    if isinstance(
        exc,
        (
            openai.APITimeoutError,
            openai.APIConnectionError,
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APIResponseValidationError,
            MalformedResponse,
        ),
    ):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 425, 429) or exc.status_code >= 500
    return False


def describe(exc: BaseException) -> str:
    """What went wrong, in one line (not yet redacted: the client redacts every text it keeps)."""
    if isinstance(exc, TimeoutError):
        return "no complete reply within the request deadline (INTENTKB_LLM_TIMEOUT)"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection error: {exc.__cause__ or exc}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
