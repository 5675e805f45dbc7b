"""DNS rebinding: a web page can point a name of its own at 127.0.0.1 and read a loopback server
without a token through the user's browser. The browser then sends that name as `Host` (and its
page as `Origin`), so a server bound to loopback answers only requests whose `Host` is a loopback
name and whose `Origin`, when there is one, is a loopback page (421 and 403 otherwise, as the MCP
SDK answers for `intentkb mcp --http`). Off loopback the valid names are not known: a token guards
those servers instead."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_name(value: str) -> str:
    """`Host` without its port: `127.0.0.1:8765` → `127.0.0.1`, `[::1]:8765` → `[::1]`."""
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def loopback_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and host_name(parts.netloc.lower()) in LOOPBACK_NAMES and "@" not in parts.netloc
    except ValueError:
        return False


class LoopbackOnly:
    """ASGI middleware: loopback names in `Host`, loopback pages in `Origin`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1").lower()
            origin = headers.get(b"origin")
            if host_name(host) not in LOOPBACK_NAMES:
                await _refuse(send, 421, "this server listens on loopback and answers requests to 127.0.0.1, localhost or [::1] only")
                return
            if origin is not None and not loopback_origin(origin.decode("latin-1")):
                await _refuse(send, 403, "requests from web pages other than this machine's are refused")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})
