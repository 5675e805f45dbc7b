"""`intentkb eval run`: ask a model every item of an exported task file and score its answers.

Items are read from the JSONL of `tasks export` (validated; bad lines go to a rejects file), each
rendered in the chosen prompt style and sent through the pipelines' LLM client, so concurrency,
retries, the response cache and the cost accounting are the same as generation's. The reply is
kept whole; `parse_answer` reads the letter (for CoT, from the last line). An unreadable or
refused reply is an invalid answer: recorded with its reason, counted as wrong, never re-asked with a
correction (that would change the protocol). Results are JSONL in `eval score`'s format, plus the
raw reply; a re-run answers from the cache. With a `context` source (`eval run --inject K`: the K
nearest intentions of the knowledge base, `knowledge.inject.Injector`) each prompt gets its
knowledge block, recorded per row (`injected`) and in the run record.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from ..config import Settings
from ..io.paths import check_output
from ..io.rejects import RejectSink, default_rejects_path, validated
from ..io.sources import jsonl_records
from ..llm.cache import ResponseCache
from ..llm.client import LLMClient, Rejected
from ..llm.settings import LLMSettings
from ..prompts.templates import Prompts
from ..tasks.items import TaskItem
from ..tasks.render import parse_answer, prompt_values, template_name
from .score import ScoreReport, score_file


class ContextSource(Protocol):
    """What `eval run` asks for background knowledge per item (the caller opens and closes it)."""

    k: int

    def knowledge(self, items: Sequence[TaskItem]) -> list[list[dict[str, str]]]: ...  # [{id, text}] per item

    def record(self) -> dict[str, Any]: ...  # what was shown and held back, for the run record


WINDOW = 2000  # items in flight per round: bounded memory on any file size
MAX_IMAGES = 8  # product images sent with one item to a vision model (one per product shown)


class EvalReport(BaseModel):
    file: str
    model: str
    style: str
    read: int
    answered: int
    other_split: int = 0  # items of the split not asked for (`--split`)
    rejected: int
    rejects_file: str | None
    invalid: int
    failed: int  # no reply at all (request refused or retries spent): also invalid
    cache_hits: int
    calls: int
    cost_usd: float
    results: str
    run_record: str  # model settings (never the key), template versions, usage: what a paper's table needs
    seconds: float
    inject: dict[str, Any] | None = None  # --inject K: what was shown and what each rule left out
    score: ScoreReport | None = None

    def lines(self) -> list[str]:
        return [
            f"{self.file} [{self.model}, {self.style} prompts]: read {self.read:,} = answered {self.answered:,} + rejected "
            f"{self.rejected:,}"
            + (f" + other split {self.other_split:,}" if self.other_split else "")
            + (f" (rejects: {self.rejects_file})" if self.rejects_file else ""),
            f"  {self.calls:,} calls, {self.cache_hits:,} cache hits, ~${self.cost_usd:.4f}; invalid answers "
            f"{self.invalid:,} (of which no reply {self.failed:,}); {self.seconds:.1f}s",
            f"  results: {self.results}  (run record: {self.run_record})",
        ] + (
            [
                f"  injected: {self.inject['intentions_shown']:,} intentions into {self.inject['items']:,} items "
                f"(up to {self.inject['k']} each); left out: " + (", ".join(f"{n:,} {why}" for why, n in self.inject["left_out"].items()) or "none")
            ]
            if self.inject
            else []
        )


def _row(item: TaskItem, style: str, model: str, reply: str | None, error: str | None, prediction: str | None) -> dict[str, Any]:
    return {
        "id": item.id,
        "task": item.task,
        "benchmark": item.benchmark,
        "label": item.label,
        "prediction": prediction,
        "options": list(item.options),
        "positive": item.positive,
        "style": style,
        "model": model,
        "reply": reply,
        **({"error": error} if error else {}),
    }


def images_of(value: Any) -> list[str]:
    """The products' images an item shows, in the order the prompt shows the products (history,
    then the product asked about); sent only to vision models (`--multimodal`)."""
    out: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("image"), str):
            out.append(value["image"])
        for k, v in value.items():
            if k != "image":
                out += images_of(v)
    elif isinstance(value, list):
        for v in value:
            out += images_of(v)
    return list(dict.fromkeys(out))


async def _answer(client: LLMClient, item: TaskItem, style: str, knowledge: list[str] | None = None) -> tuple[str | None, str | None, str | None]:
    """(reply text, error, predicted letter). With JSON output the answer is constrained to the
    item's option letters (`choice` reply model); with lines it is read from the text."""
    values = prompt_values(item.model_dump(), style, knowledge)
    try:
        images = images_of(item.inputs)[-MAX_IMAGES:]  # the product asked about comes last: keep it
        reply = await client.complete(
            template_name(item.task), values, images=images, image_limit=MAX_IMAGES, correct=False, letters=list(item.options), cot=style == "cot"
        )
    except Rejected as e:
        return e.raw, e.reason, None
    prediction = reply.value if reply.mode == "json" else parse_answer(reply.text, item.options, style)
    return reply.text, None, prediction


async def evaluate_async(
    path: Path,
    settings: Settings,
    llm: LLMSettings,
    *,
    style: str = "zero",
    output: Path | None = None,
    limit: int | None = None,
    rejects_path: Path | None = None,
    context: ContextSource | None = None,
    split: str | None = None,
    echo: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    started = time.monotonic()
    injector = context
    tag = f".inject{injector.k}" if injector else ""
    output = output or path.with_name(f"{path.stem}.{llm.model.replace('/', '_')}.{style}{tag}.results.jsonl")
    cache = ResponseCache(llm.cache_path or settings.llm_cache_path)
    client = LLMClient(llm, cache, Prompts(llm.prompts_dir))
    sink = RejectSink(rejects_path or default_rejects_path(settings.rejects_dir, path, "eval"), path, echo)
    answered = invalid = failed = labelled = other_split = 0
    seen: set[str] = set()
    tmp = output.with_name(output.name + ".tmp")
    check_output(output, directory=False)

    def items() -> Iterator[TaskItem]:
        nonlocal other_split
        n = 0
        for line, item, raw in validated(jsonl_records(path, ()), TaskItem, sink):
            if split is not None and item.split != split:
                other_split += 1
                continue
            if item.id in seen:
                sink.add(line, f"duplicate id {item.id!r}", raw)
                continue
            seen.add(item.id)
            yield item
            n += 1
            if limit is not None and n >= limit:
                return

    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            source = items()
            while True:
                window = [it for _, it in zip(range(WINDOW), source)]
                if not window:
                    break
                shown = injector.knowledge(window) if injector else [[] for _ in window]
                replies = await asyncio.gather(*(_answer(client, it, style, [k["text"] for k in ks]) for it, ks in zip(window, shown)))
                for item, (reply, error, prediction), ks in zip(window, replies, shown):
                    row = _row(item, style, llm.model, reply, error, prediction)
                    if injector:
                        row["injected"] = [k["id"] for k in ks]
                    answered += 1
                    failed += error is not None and reply is None
                    invalid += row["prediction"] is None
                    labelled += item.label is not None
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                if progress:
                    progress(answered)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)  # a run that failed leaves no half file behind
        sink.close()
        await client.aclose()
        cache.close()
    usage = client.usage.finish(*llm.prices())
    total = usage.total()
    score = score_file(output, echo=echo) if labelled else None
    record = output.with_name(output.name.removesuffix(".jsonl") + ".run.json")
    report = EvalReport(
        file=str(path),
        model=llm.model,
        style=style,
        read=answered + sink.count + other_split,
        answered=answered,
        other_split=other_split,
        rejected=sink.count,
        rejects_file=str(sink.path) if sink.count else None,
        invalid=invalid,
        failed=failed,
        cache_hits=total.cache_hits,
        calls=total.calls,
        cost_usd=usage.cost_usd,
        results=str(output),
        run_record=str(record),
        seconds=round(time.monotonic() - started, 2),
        score=score,
        inject=injector.record() if injector else None,
    )
    templates = {name: {"version": t.prompt_version, "digest": t.digest, "source": t.source} for name, t in sorted(client.prompts.loaded().items())}
    output_used = "lines (the endpoint refused response_format: " + client.schema_refused + ")" if client.schema_refused else llm.output
    record.write_text(
        json.dumps(
            {
                "llm": llm.public(),
                "output": output_used,
                "templates": templates,
                "inject": injector.record() if injector else None,
                "usage": usage.model_dump(),
                "report": report.model_dump(exclude={"score"}),
            },
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    return report


def evaluate(path: Path, settings: Settings | None = None, llm: LLMSettings | None = None, **kw: Any) -> EvalReport:
    return asyncio.run(evaluate_async(path, settings or Settings(), llm or LLMSettings(), **kw))
