"""OpenAI Batch API mode: a pipeline round queues its cache misses, they go out as one batch
(JSONL upload → batch → poll → output file), the usable replies land in the cache, and the next
round takes them from there. Trees need one round per depth level; a request the batch could not
answer is sent live on the next round. A batch in flight is remembered on disk, so a stopped
run polls it again instead of paying twice."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import IntentKBError
from ..llm.client import LLMClient, PendingRequest, attempt_of
from ..private import private_write_text
from ..prompts.lines import ParseError

_DONE = {"completed", "failed", "expired", "cancelled"}


class BatchState(BaseModel):
    """A submitted batch: what to do with each custom_id when the output arrives."""

    batch_id: str
    input_file_id: str
    created: float
    requests: dict[str, dict[str, Any]]  # custom_id (cache key) → {template, parser, reply, mode, args, model}


class BatchRound(BaseModel):
    batch_id: str
    requests: int
    answered: int
    unusable: int
    missing: int
    status: str
    seconds: float


def _state_path(directory: Path, pipeline: str) -> Path:
    return directory / f"{pipeline}.batch.json"


def request_line(p: PendingRequest) -> str:
    return json.dumps({"custom_id": p.key, "method": "POST", "url": "/v1/chat/completions", "body": p.body}, ensure_ascii=False, separators=(",", ":"))


async def submit(client: LLMClient, directory: Path, pipeline: str) -> BatchState:
    api = client._api()
    data = "\n".join(request_line(p) for p in client.pending.values()).encode("utf-8") + b"\n"
    f = await api.files.create(file=(f"intentkb-{pipeline}.jsonl", io.BytesIO(data)), purpose="batch")
    b = await api.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"intentkb_pipeline": pipeline})
    state = BatchState(
        batch_id=b.id,
        input_file_id=f.id,
        created=time.time(),
        requests={k: {"template": p.template, "reply": p.reply, "mode": p.mode, "args": p.args, "model": p.body["model"]} for k, p in client.pending.items()},
    )
    path = _state_path(directory, pipeline)
    tmp = path.with_suffix(".tmp")
    private_write_text(tmp, state.model_dump_json())
    tmp.replace(path)
    return state


def load_state(directory: Path, pipeline: str) -> BatchState | None:
    path = _state_path(directory, pipeline)
    return BatchState.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None


async def collect(client: LLMClient, state: BatchState, directory: Path, pipeline: str, echo: Callable[[str], None] | None = None) -> BatchRound:
    """Poll the batch to its end and move every usable reply into the cache."""
    api = client._api()
    t0 = time.monotonic()
    while True:
        b = await api.batches.retrieve(state.batch_id)
        if b.status in _DONE:
            break
        if echo:
            counts = b.request_counts
            echo(f"batch {b.id}: {b.status}" + (f", {counts.completed}/{counts.total} done" if counts else ""))
        await asyncio.sleep(client.settings.batch_poll)
    answered = unusable = 0
    seen: set[str] = set()
    for file_id in (b.output_file_id, b.error_file_id):
        if not file_id:
            continue
        content = await api.files.content(file_id)
        for line in content.text.splitlines():
            if not line.strip():
                continue
            obj = json.loads(client.scrub(line))
            key = obj.get("custom_id")
            req = state.requests.get(key)
            if req is None:
                continue
            seen.add(key)
            if _ingest(client, key, req, obj):
                answered += 1
            else:
                unusable += 1
                client.live_keys.add(key)
    missing = [k for k in state.requests if k not in seen]
    client.live_keys.update(missing)
    _state_path(directory, pipeline).unlink(missing_ok=True)
    if b.status != "completed" and echo:
        echo(f"batch {b.id} ended {b.status}: {len(missing)} requests unanswered; they are sent live on the next round")
    return BatchRound(
        batch_id=b.id,
        requests=len(state.requests),
        answered=answered,
        unusable=unusable,
        missing=len(missing),
        status=b.status,
        seconds=round(time.monotonic() - t0, 3),
    )


def _ingest(client: LLMClient, key: str, req: dict[str, Any], obj: dict[str, Any]) -> bool:
    """One output line → cache, when it is a usable reply (same rules as live calls)."""
    resp = obj.get("response") or {}
    if resp.get("status_code") != 200:
        return False
    try:
        reply = client.scrubbed(attempt_of(resp.get("body") or {}))
        client.read(reply, req.get("reply") or req.get("parser") or "free_text", req.get("mode", "lines"), req["args"])
    except (ParseError, KeyError, IndexError, TypeError, AttributeError):
        return False
    text, pt, ct = reply.text, reply.prompt_tokens, reply.completion_tokens
    u = client.usage.of(req["template"])
    u.calls += 1
    u.replies += 1
    u.prompt_tokens += pt
    u.completion_tokens += ct
    client.usage.batch_prompt_tokens += pt
    client.usage.batch_completion_tokens += ct
    client.cache.put(key, req["template"], req["model"], text, pt, ct)
    return True


async def batch_rounds(
    client: LLMClient, run_round: Callable[[], Any], directory: Path, pipeline: str, echo: Callable[[str], None] | None = None, max_rounds: int = 50
) -> tuple[list[Any], list[BatchRound]]:
    """Run `run_round` until it queues nothing, submitting and collecting a batch between rounds;
    the results of every round, in order."""
    rounds: list[BatchRound] = []
    results: list[Any] = []
    state = load_state(directory, pipeline)
    if state is not None:
        if echo:
            echo(f"resuming batch {state.batch_id} ({len(state.requests)} requests) from a previous run")
        rounds.append(await collect(client, state, directory, pipeline, echo))
    for _ in range(max_rounds):
        client.collect = True
        client.pending.clear()
        results.append(await run_round())
        if not client.pending:
            client.collect = False
            return results, rounds
        if echo:
            echo(f"submitting a batch of {len(client.pending)} requests")
        state = await submit(client, directory, pipeline)
        rounds.append(await collect(client, state, directory, pipeline, echo))
    raise IntentKBError(f"batch mode did not converge in {max_rounds} rounds")
