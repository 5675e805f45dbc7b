"""DNS rebinding: a web page can point a name of its own at 127.0.0.1 and read a loopback server
without a token through the user's browser. The browser then sends that name as `Host` (and its
page as `Origin`), so a server bound to loopback answers only requests whose `Host` is a loopback
name and whose `Origin`, when there is one, is a loopback page (421 and 403 otherwise, as the MCP
SDK answers for `intentkb mcp --http`). Off loopback the valid names are not known: a token guards
those servers instead."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads LOOPBACK from here without loading starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # the hosts a server may listen on without a token

_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")  # a Host header: name, then a port or nothing
_LOOPBACK_ORIGIN = re.compile(r"https?://" + _LOOPBACK_HOST.pattern)


def loopback_host(value: str) -> bool:
    return _LOOPBACK_HOST.fullmatch(value.lower()) is not None


def loopback_origin(value: str) -> bool:
    return _LOOPBACK_ORIGIN.fullmatch(value.lower()) is not None


class LoopbackOnly:
    """ASGI middleware: loopback names in `Host`, loopback pages in `Origin`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or []
            hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
            origins = [v.decode("latin-1") for k, v in headers if k == b"origin"]  # every one: with two, a framework may read either
            if len(hosts) != 1 or not loopback_host(hosts[0]):
                await refuse(send, 421, "this server listens on loopback and answers requests to 127.0.0.1, localhost or [::1] only")
                return
            if not all(loopback_origin(o) for o in origins):
                await refuse(send, 403, "requests from web pages other than this machine's are refused")
                return
        await self.app(scope, receive, send)


async def refuse(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """An ASGI answer `{"detail": …}` sent before the app sees the request (the guards of serve and mcp --http)."""
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
