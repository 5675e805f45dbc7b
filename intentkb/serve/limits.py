"""Size limits of the HTTP API, applied before a route sees a request and after it made an answer.

Measured on the first version: bodies of any size were read whole (a 50 MB list parameter took the
server from 1.26 to 2.38 GB), a 422 echoed its whole input back, and `/cypher` returned 41 MB for
`UNWIND range(1,3000000) AS x RETURN x`. Here: a body is counted as it arrives and refused with
413 past `max_body` (before it is parsed); a validation error says where and what, never the
value; an answer past `max_response` bytes is replaced by a 422 that says how to narrow the
request. Both errors are JSON `{"detail": ...}` like every other error of the API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiLimits(BaseModel):
    """What one request may send and get back (`intentkb serve --max-body ...`)."""

    max_body: int = Field(default=1_000_000, ge=1, description="Bytes of a request body")
    max_rows: int = Field(default=10_000, ge=1, description="Rows of a /cypher answer")
    max_response: int = Field(default=10_000_000, ge=1, description="Bytes of any answer")
    max_queries: int = Field(default=8, ge=1, description="/cypher requests in progress at once (429 past it)")


def _json(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    start = {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body, "more_body": False}


# A refused body is still read (and dropped) up to this size, so that a client that sends the whole
# body before it reads the answer gets the 413 instead of a reset connection; past it, the
# connection is closed.
DRAIN_BYTES = 64 << 20


async def _drain(receive: Receive, seen: int) -> None:
    while seen <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class SizeLimits:
    """ASGI middleware: the request body cap (413) and the answer cap (422)."""

    def __init__(self, app: ASGIApp, limits: ApiLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body, max_response = self.limits.max_body, self.limits.max_response
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            if int(declared) <= DRAIN_BYTES:
                await _drain(receive, 0)
            await self._refuse_body(send, max_body)
            return
        seen = 0
        body_over = False

        async def counted() -> Message:
            """The body as it arrives; past the cap the app gets an empty last chunk (nothing more
            is read) and its answer is replaced by a 413 below."""
            nonlocal seen, body_over
            if body_over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    body_over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        held: list[Message] = []
        size = 0
        over = False

        async def capped(message: Message) -> None:
            nonlocal size, over
            if over:
                return
            if body_over:
                over = True
                await _drain(receive, seen)
                await self._refuse_body(send, max_body)
                return
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size > max_response:
                    over = True
                    held.clear()
                    for m in _json(422, f"answer refused: more than {max_response:,} bytes (the server's --max-response); ask for fewer rows or a smaller k"):
                        await send(m)
                    return
                held.append(message)
                if not message.get("more_body", False):
                    for m in held:
                        await send(m)
                    held.clear()

        await self.app(scope, counted, capped)

    @staticmethod
    async def _refuse_body(send: Send, max_body: int) -> None:
        for m in _json(413, f"request refused: the body is over {max_body:,} bytes (the server's --max-body)"):
            await send(m)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A 422 that says where and what is wrong, without echoing the value it was given."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:300], "type": e.get("type", "")} for e in errors[:20]]
    return JSONResponse(status_code=422, content={"detail": detail})
