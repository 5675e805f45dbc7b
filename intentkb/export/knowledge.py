"""`intentkb export knowledge`: the graph's intention knowledge as training data for LLaMA-Factory.

- pretrain: `{"text": …}` lines, one document per entry (module `entries`), for its `pt` stage;
- alpaca: `{"instruction", "input", "output", "system"}` lines, one per link;
- sharegpt: `{"conversations": [human, gpt]}` lines, one per link.

Every line keeps its provenance (`id`, `kind`, `group`, `provenance.nodes`, the intentions it
states); LLaMA-Factory reads the columns its `dataset_info.json` entry names and ignores the rest.
That entry is merged into the directory's `dataset_info.json` (other datasets there stay). Files are
written beside their final name and moved into place when complete: a killed export leaves the
previous files, and a re-run writes the same lines (entries come in id order).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from ..errors import IntentKBError
from ..io.dataset_info import merge_dataset_info
from ..io.paths import check_output
from ..kb.store import GraphStore
from ..knowledge.entries import KINDS, SOURCES, Entry
from ..knowledge.leakage import Exclusion

Format = Literal["pretrain", "alpaca", "sharegpt"]
FILES: dict[str, str] = {"pretrain": "intentkb_knowledge_pt", "alpaca": "intentkb_knowledge_alpaca", "sharegpt": "intentkb_knowledge_sharegpt"}


class KnowledgeOptions(BaseModel):
    fmt: Format = "pretrain"
    output: Path  # a directory
    kinds: list[str] = Field(default_factory=lambda: list(KINDS))
    include_rejected: bool = False
    seed: int = 0
    test_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    keep_test: bool = False  # write the test split's groups too (the user's own responsibility)


class KnowledgeReport(BaseModel):
    format: str
    files: list[str]
    entries: dict[str, int]  # read, per kind
    written: dict[str, int]  # lines, per kind
    left_out: dict[str, dict[str, int]]  # reason -> kind -> entries
    words: int  # whitespace-separated tokens of the text written (documents, or prompts + answers)
    exclude_items: int = 0
    exclude_nodes: int = 0
    exclude_rejected: int = 0
    seconds: float

    def lines(self) -> list[str]:
        read, wrote = sum(self.entries.values()), sum(self.written.values())
        out = [f"knowledge -> {self.format}: {read:,} entries read, {wrote:,} lines written, {self.words:,} words, {self.seconds:.1f}s"]
        for kind in self.entries:
            out.append(f"  {kind}: {self.entries[kind]:,} entries, {self.written.get(kind, 0):,} lines")
        if self.exclude_items or self.exclude_rejected:
            out.append(
                f"  --exclude: {self.exclude_items:,} items naming {self.exclude_nodes:,} nodes"
                + (f"; {self.exclude_rejected:,} bad lines rejected" if self.exclude_rejected else "")
            )
        for reason, by_kind in self.left_out.items():
            parts = ", ".join(f"{k} {n:,}" for k, n in by_kind.items())
            out.append(f"  left out ({reason}): {sum(by_kind.values()):,} entries ({parts})")
        if not self.left_out:
            out.append("  left out: nothing")
        out += [f"  wrote {f}" for f in self.files]
        return out


def _rows(entry: Entry, fmt: str) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"id": entry.id, "kind": entry.kind, "group": entry.group}
    prov: dict[str, Any] = {"nodes": entry.nodes}
    if fmt == "pretrain":
        return [{"text": entry.document, **base, "intentions": entry.intentions, "provenance": prov}]
    out = []
    for n, ins in enumerate(entry.instructions):
        row_id = f"{entry.id}#{n}"
        if fmt == "alpaca":
            out.append(
                {
                    "instruction": ins.instruction,
                    "input": "",
                    "output": ins.output,
                    "system": "",
                    **base,
                    "id": row_id,
                    "intention": ins.intention,
                    "provenance": prov,
                }
            )
        else:
            out.append(
                {
                    "conversations": [{"from": "human", "value": ins.instruction}, {"from": "gpt", "value": ins.output}],
                    **base,
                    "id": row_id,
                    "intention": ins.intention,
                    "provenance": prov,
                }
            )
    return out


def _words(row: dict[str, Any]) -> int:
    if "text" in row:
        return len(row["text"].split())
    if "conversations" in row:
        return sum(len(t["value"].split()) for t in row["conversations"])
    return len(row["instruction"].split()) + len(row["output"].split())


def dataset_info_entry(fmt: str, file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's description of one file (its data/README: `columns`, `formatting`, `tags`)."""
    if fmt == "pretrain":
        return {"file_name": file_name, "columns": {"prompt": "text"}}
    if fmt == "alpaca":
        return {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
        }
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
    }


def export_knowledge(
    store: GraphStore, opts: KnowledgeOptions, exclusion: Exclusion | None = None, progress: Callable[[int], None] | None = None
) -> KnowledgeReport:
    started = time.monotonic()
    unknown = [k for k in opts.kinds if k not in SOURCES]
    if unknown:
        raise IntentKBError(f"unknown kind {', '.join(unknown)}: choose from {', '.join(KINDS)}")
    check_output(opts.output, directory=True)
    opts.output.mkdir(exist_ok=True)
    exclusion = exclusion or Exclusion(seed=opts.seed, test_fraction=opts.test_fraction, keep_test=opts.keep_test)
    name = FILES[opts.fmt]
    path = opts.output / f"{name}.jsonl"
    tmp = path.with_name(path.name + ".tmp")
    entries: Counter[str] = Counter()
    written: Counter[str] = Counter()
    left_out: dict[str, Counter[str]] = {}
    words = 0
    with open(tmp, "wb") as fh:
        for kind in opts.kinds:
            entries[kind] += 0
            for entry in SOURCES[kind](store, opts.include_rejected):
                entries[kind] += 1
                why = exclusion.reason(entry)
                if why is not None:
                    left_out.setdefault(why, Counter())[kind] += 1
                    continue
                for row in _rows(entry, opts.fmt):
                    fh.write(orjson.dumps(row) + b"\n")
                    written[kind] += 1
                    words += _words(row)
                if progress is not None and sum(entries.values()) % 1000 == 0:
                    progress(sum(entries.values()))
    os.replace(tmp, path)
    info = merge_dataset_info(opts.output, {name: dataset_info_entry(opts.fmt, path.name)})
    return KnowledgeReport(
        format=opts.fmt,
        files=[str(path), str(info)],
        entries=dict(entries),
        written=dict(written),
        left_out={r: dict(c) for r, c in left_out.items()},
        words=words,
        exclude_nodes=len(exclusion.nodes),
        seconds=round(time.monotonic() - started, 2),
    )
