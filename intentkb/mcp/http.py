"""`intentkb mcp --http`: streamable HTTP, guarded.

On loopback the SDK checks `Host` and `Origin` (a web page cannot reach the server through a DNS
name of its own); on any other address those checks cannot know the valid names, so a bearer token
is required there (`intentkb mcp` refuses to start without one). With a token, every request
carries `Authorization: Bearer TOKEN` (the scheme in any case, RFC 7235). Header values the SDK
logs are written with control characters escaped: a Host header must not paint the operator's terminal.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..config import Settings
from ..serve.hosts import LOOPBACK, refuse
from .server import build_server, open_tools
from .tools import McpLimits

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def bearer_guard(app: ASGI, token: str | None) -> ASGI:
    """Every HTTP request must carry `Authorization: Bearer TOKEN` when a token is set."""
    if token is None:
        return app
    expected = token.encode()

    async def guarded(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scheme, _, given = dict(scope.get("headers") or []).get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), expected):
                await refuse(send, 401, "a bearer token is required", ((b"www-authenticate", b"Bearer"),))
                return
        await app(scope, receive, send)

    return guarded


class EscapeControl(logging.Filter):
    """Control characters of a log record's text (a request header the SDK quotes) as escapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if _CONTROL.search(text):
            record.msg, record.args = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text), None
        return True


def run_http(settings: Settings, host: str, port: int, *, token: str | None = None, limits: McpLimits | None = None, reranker: str | None = None) -> None:
    import uvicorn

    if host not in LOOPBACK and not token:
        raise ValueError("a token is required off loopback")  # the CLI says so first, in its words
    tools = open_tools(settings, limits=limits, reranker=reranker)
    try:
        # plain JSON answers, not an SSE stream per call (no tool streams progress): +6.5 -> +3.2 ms over POST /retrieve
        app = build_server(tools).streamable_http_app(host=host, json_response=True)  # Host and Origin checked on loopback
        for handler in logging.getLogger().handlers:
            handler.addFilter(EscapeControl())
        uvicorn.run(bearer_guard(app, token), host=host, port=port, log_level="warning", lifespan="on")
    finally:
        tools.state.close()
