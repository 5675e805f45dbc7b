"""A scripted OpenAI-compatible server on 127.0.0.1, for tests, benchmarks and offline rehearsals.

It speaks the chat-completions, files and batches wire format over real HTTP/1.1 (keep-alive), and
answers every prompt of intentkb's bundled templates in the asked format (`synthetic.py`: the same
prompt always gets the same reply). It can misbehave on purpose, from a script of behaviours for
the next requests or at random with a fault rate:

    ok · 429 (with Retry-After) · 500 · slow (sleeps past the client's timeout) ·
    malformed (a body that is not JSON) · unusable (a reply in no asked format) · truncated ·
    drip (the body one byte every 0.5 s) · endless (a chunked body that never ends) ·
    echo_auth (a 400 whose body echoes the Authorization header) · overflow (a 400 "context size")

A request with a JSON-schema `response_format` is answered with JSON of that reply model
(`schemas=False`: refused with a 400, as endpoints without structured outputs do).

Which reply a request wants comes from the template that made it, recognised by its fixed text,
and that template's reply format (`replies.py`): requests carry nothing but the OpenAI wire, live
or in a batch file. A prompt no bundled template made is answered with free text.

    python -m intentkb.testing.scripted_server --port 8765 --faults 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from ..prompts.templates import Prompts
from .batches import FilesAndBatches, error
from .replies import Signatures, completion, reply_of, signatures

FAULTS = ("429", "500", "slow", "malformed", "unusable", "truncated")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


class ScriptedServer(FilesAndBatches):
    """Start with `start()` (a thread of its own) or `serve_forever()`; `url` is the base URL."""

    def __init__(
        self,
        *,
        faults: float = 0.0,
        fault_kinds: Iterable[str] = FAULTS,
        slow_seconds: float = 2.0,
        retry_after: str = "0",
        seed: int = 0,
        port: int = 0,
        model_latency: float = 0.0,
        schemas: bool = True,
    ) -> None:
        self.faults = faults
        self.schemas = schemas
        self.fault_kinds = tuple(fault_kinds)
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.model_latency = model_latency
        self.port = port
        self.script: collections.deque[str] = collections.deque()
        self.counts: collections.Counter[str] = collections.Counter()
        self.auth_headers: set[str] = set()
        self.requests: list[dict[str, Any]] = []  # chat request bodies, when `record` is on
        self.header_names: set[str] = set()  # header names of recorded requests (lower case)
        self.templates: Signatures | None = None  # None: the bundled templates; `use_prompts` for a user's
        self.record = False
        self.echo_auth = False  # every 200 reply carries the request's Authorization header in its text
        self.in_flight = 0
        self.max_in_flight = 0  # most chat requests open at once
        self._rng = random.Random(seed)
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- control -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *behaviours: str) -> None:
        """The next requests behave like this, in order (then back to the fault rate)."""
        with self._lock:
            self.script.extend(behaviours)

    @property
    def completions(self) -> int:
        return self.counts["chat"]

    def _behaviour(self) -> str:
        with self._lock:
            if self.script:
                return self.script.popleft()
            if self.faults and self._rng.random() < self.faults:
                return self._rng.choice(self.fault_kinds)
            return "ok"

    # -- life cycle --------------------------------------------------------------------------------
    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> ScriptedServer:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="scripted-openai", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        async def main() -> None:
            await self._start()
            print(f"scripted OpenAI-compatible server on {self.url}", flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())

    # -- HTTP --------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if "authorization" in headers:
                    with self._lock:
                        self.auth_headers.add(headers["authorization"])
                status, extra, payload = await self._route(method, path.split("?")[0], headers, body)
                reason = _REASONS.get(status, "Error")
                trickle = extra.pop("x-trickle", None)
                hdrs = {"content-type": "application/json", "x-request-id": uuid.uuid4().hex[:12], **extra}
                if trickle != "endless":
                    hdrs["content-length"] = str(len(payload))
                writer.write(f"HTTP/1.1 {status} {reason}\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()).encode() + b"\r\n")
                if trickle == "drip":  # a byte every 0.5 s: every read well inside any per-read timeout
                    for i in range(len(payload)):
                        writer.write(payload[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(0.5)
                elif trickle == "endless":  # chunked, a chunk every 50 ms, for ever
                    while True:
                        writer.write(b"1\r\n \r\n")
                        await writer.drain()
                        await asyncio.sleep(0.05)
                else:
                    writer.write(payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = path.removeprefix("/v1")
        if method == "POST" and path == "/chat/completions":
            return await self._chat(json.loads(body), headers)
        if method == "POST" and path == "/files":
            return self._upload(headers, body)
        if method == "POST" and path == "/batches":
            return self._create_batch(json.loads(body))
        if method == "GET" and path.startswith("/batches/"):
            return self._get_batch(path.rsplit("/", 1)[1])
        if method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            fid = path.split("/")[2]
            if fid not in self._files:
                return error(404, "no such file")
            return 200, {"content-type": "application/jsonl"}, self._files[fid]
        return error(404, f"no route {method} {path}")

    def use_prompts(self, prompts: Prompts) -> None:
        """Recognise the templates `prompts` gives (a user's directory first), not only the bundled."""
        self.templates = signatures(prompts)

    # -- chat completions --------------------------------------------------------------------------
    def answer(self, request: dict[str, Any], behaviour: str = "ok") -> dict[str, Any]:
        """The completion object for one request (live or a batch line)."""
        name, args = reply_of(request, self.templates)
        with self._lock:
            self.counts[f"format:{name}"] += 1
        return completion(request, name, args, behaviour)

    async def _chat(self, request: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat_reply(request, headers)
        finally:
            self.in_flight -= 1

    async def _chat_reply(self, request: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.record:
            self.requests.append(request)
            self.header_names.update(headers)
        behaviour = self._behaviour()
        with self._lock:
            self.counts["requests"] += 1
            self.counts[behaviour] += 1
        if not self.schemas and request.get("response_format"):
            return error(400, "response_format is not supported by this server")
        if behaviour == "echo_auth":
            return error(400, f"invalid header: Authorization: {headers.get('authorization', '')}")
        if behaviour == "overflow":
            return error(400, "request (9000 tokens) exceeds the available context size (2048 tokens), try increasing it")
        if behaviour in ("drip", "endless"):
            return 200, {"x-trickle": behaviour}, json.dumps(self.answer(request)).encode()
        if behaviour == "401":
            return error(401, "Incorrect API key provided")
        if behaviour == "429":
            return error(429, "Rate limit reached", {"retry-after": self.retry_after})
        if behaviour == "500":
            return error(500, "The server had an error while processing your request")
        if behaviour == "slow":
            await asyncio.sleep(self.slow_seconds)
        if behaviour == "malformed":
            return 200, {}, b'{"id": "chatcmpl-x", "choices": [{"message": '
        if self.model_latency:
            await asyncio.sleep(self.model_latency)
        with self._lock:
            self.counts["chat"] += 1
        answer = self.answer(request, behaviour)
        if self.echo_auth:
            answer = echo_header(answer, headers.get("authorization", ""))
        return 200, {}, json.dumps(answer).encode()


def echo_header(answer: dict[str, Any], value: str) -> dict[str, Any]:
    """A completion whose text carries `value` in every string (JSON replies) or on every line
    (line formats), still in its format: an endpoint that echoes the request's headers."""

    def into(v: Any) -> Any:
        if isinstance(v, str):
            return f"{v} [{value}]"
        if isinstance(v, list):
            return [into(x) for x in v]
        if isinstance(v, dict):
            return {k: into(x) for k, x in v.items()}
        return v

    msg = answer["choices"][0]["message"]
    text = msg.get("content") or ""
    try:
        msg["content"] = json.dumps(into(json.loads(text)))
    except ValueError:
        msg["content"] = "\n".join(f"{line} [{value}]" if line.strip() else line for line in text.split("\n"))
    return answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--faults", type=float, default=0.0, help="share of requests that misbehave (0–1)")
    ap.add_argument("--kinds", default=",".join(FAULTS), help="which faults, comma-separated")
    ap.add_argument("--slow", type=float, default=2.0, help="seconds a slow reply takes")
    ap.add_argument("--retry-after", default="0", help="Retry-After header of 429 replies (seconds)")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds of model latency per reply")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-schemas", action="store_true", help="refuse JSON-schema response_format with a 400")
    a = ap.parse_args()
    ScriptedServer(
        faults=a.faults,
        fault_kinds=a.kinds.split(","),
        slow_seconds=a.slow,
        retry_after=a.retry_after,
        seed=a.seed,
        port=a.port,
        model_latency=a.latency,
        schemas=not a.no_schemas,
    ).serve_forever()


if __name__ == "__main__":
    main()
