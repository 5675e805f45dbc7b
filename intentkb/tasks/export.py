"""`intentkb tasks export`: task items from the graph to files, streamed (one item in memory at a time
beyond the builder's page), with a deterministic train/test split.

Formats
- jsonl: one item a line (id, benchmark, task, inputs, options, label, positive, group, provenance,
  split; `prompt` too when --prompt is given). What `eval run` reads.
- csv: an annotation sheet: the rendered question, the options, empty `annotator` and `answer`
  columns; the filled sheets of three annotators, concatenated, are what `annotations import` reads.
- alpaca / sharegpt: supervised fine-tuning files per split (`<name>_train.jsonl`, `<name>_test.jsonl`)
  with a LLaMA-Factory `dataset_info.json`. Only labelled items (a model needs an answer to learn).
- lm-eval: lm-evaluation-harness multiple-choice tasks: one YAML per task over data files per split.

Split: an item goes to test when a hash of (seed, its group) falls in the first `test_fraction` of
the hash range. The group is the session / script / co-bought pair it comes from, so one session
never has questions on both sides; the split of an item never changes when the graph grows or the
export is repeated; each task is split 4:1 in expectation (the realised counts are reported).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..errors import IntentKBError
from ..io.dataset_info import merge_dataset_info
from ..io.paths import check_output
from ..io.rejects import RejectSink, user_rejects_path, validated
from ..io.sources import jsonl_records
from ..kb.models import Text
from ..kb.store import GraphStore
from ..llm.prompts import Prompts
from .items import Item, short_hash, task_names
from .render import prompt_text, render, target_text, templates
from .stats import BuildStats

Format = Literal["jsonl", "csv", "alpaca", "sharegpt", "lm-eval"]


class ExportOptions(BaseModel):
    benchmark: Literal["sib", "esb", "iqa"]
    tasks: list[int] = Field(default_factory=list)  # task numbers; empty = all of the benchmark's
    mode: Literal["end", "every"] = "end"  # sib: at the end of each trajectory, or at every step
    style: Literal["zero", "few", "cot"] | None = None  # prompt style (None: jsonl without prompts, zero elsewhere)
    fmt: Format = "jsonl"
    output: Path
    seed: int = 0
    test_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    labels: Path | None = None  # gold labels (annotations import output, or {id, label})
    limit: int | None = Field(default=None, ge=1)
    negatives: int = Field(default=1, ge=1)  # esb T1 negatives per script
    band: tuple[float, float] = (0.3, 0.8)  # iqa distractor similarity band
    prompts_dir: Path | None = None
    page: int = Field(default=200, ge=1)


class ExportReport(BaseModel):
    benchmark: str
    format: str
    mode: str
    style: str | None
    files: list[str]
    items: int  # built
    written: int
    unlabelled_left_out: int = 0  # sft / lm-eval formats need a label
    by_task: dict[str, dict[str, int]]  # task -> {"train": n, "test": n}
    labels_attached: int = 0
    labels_rejected: int = 0  # bad lines of the labels file (in its .labels.rejects.jsonl)
    build: BuildStats
    seconds: float

    def lines(self) -> list[str]:
        out = [
            f"{self.benchmark} tasks ({self.mode if self.benchmark == 'sib' else 'all'}) -> {self.format}: "
            f"{self.items:,} items built, {self.written:,} written in {self.seconds:.1f}s"
            + (f" ({self.unlabelled_left_out:,} unlabelled left out)" if self.unlabelled_left_out else "")
        ]
        if self.build.trajectories:
            out.append(
                f"  {self.build.trajectories:,} trajectories read; {self.build.repeats:,} questions met again on "
                "another trajectory (shared prefix), written once"
            )
        for task, c in sorted(self.by_task.items()):
            n = c.get("train", 0) + c.get("test", 0)
            out.append(
                f"  {task}: {n:,} (train {c.get('train', 0):,} / test {c.get('test', 0):,}" + (f", test share {c.get('test', 0) / n:.3f})" if n else ")")
            )
        out += ["  " + x for x in self.build.skipped_lines()]
        if self.labels_attached or self.labels_rejected:
            out.append(
                f"  gold labels attached to {self.labels_attached:,} items"
                + (f"; {self.labels_rejected:,} bad label lines rejected" if self.labels_rejected else "")
            )
        out += [f"  wrote {f}" for f in self.files]
        return out


@lru_cache(maxsize=1 << 16)  # a group's items come together: hash it once
def split_of(group: str, seed: int, test_fraction: float) -> str:
    u = int(short_hash(str(seed), group, n=15), 16) / 16**15
    return "test" if u < test_fraction else "train"


def build_items(store: GraphStore, settings: Settings | None, opts: ExportOptions, stats: BuildStats) -> Iterator[Item]:
    tasks = task_names(opts.benchmark, opts.tasks)
    if opts.benchmark == "sib":
        from .sib import sib_items

        return sib_items(store, tasks, opts.mode, page=opts.page, stats=stats)
    if opts.benchmark == "esb":
        from .esb import esb_items

        return esb_items(store, settings, tasks, seed=opts.seed, negatives=opts.negatives, page=opts.page, stats=stats)
    from .iqa import iqa_items

    return iqa_items(store, settings, tasks, seed=opts.seed, band=opts.band, page=max(opts.page, 500), stats=stats)


class GoldRow(BaseModel):
    """A gold label: a row of `annotations import` (label positive/negative, with answer counts) or
    any {id, label} line with the option letter."""

    model_config = ConfigDict(extra="ignore")

    id: Text
    label: Text
    agreement: str | None = None
    answers: dict[str, int] | None = None


def load_labels(path: Path, echo: Callable[[str], None] | None = None) -> tuple[dict[str, dict[str, Any]], int]:
    """(id -> gold row, rows rejected); bad rows go to PATH.labels.rejects.jsonl with line and reason."""
    gold: dict[str, dict[str, Any]] = {}
    sink = RejectSink(user_rejects_path(path, "labels"), path, echo)
    try:
        for _, row, _ in validated(jsonl_records(path, ()), GoldRow, sink):
            gold[row.id] = row.model_dump(exclude_none=True)
    finally:
        sink.close()
    return gold, sink.count


def _gold_letter(row: dict[str, Any], item: Item) -> str | None:
    label = str(row["label"]).strip()
    if label.upper() in item["options"]:
        return label.upper()
    if label.lower() in ("positive", "negative") and item.get("positive"):
        pos = set(item["positive"])
        side = [k for k in item["options"] if (k in pos) == (label.lower() == "positive")]
        answers = row.get("answers") or {}
        return max(side, key=lambda k: (answers.get(k, 0), -side.index(k)))
    return None


class _Writer:
    """One format's files; `write(item, split)` returns False when the item cannot go in it."""

    def __init__(self, opts: ExportOptions, prompts: Prompts | None, stack: ExitStack) -> None:
        self.opts, self.prompts, self.stack = opts, prompts, stack
        self.files: list[Path] = []
        self.style = opts.style or "zero"
        out = opts.output
        if opts.fmt in ("jsonl", "csv"):
            self.tmp = out.with_name(out.name + ".tmp")
            self.fh = stack.enter_context(open(self.tmp, "wb") if opts.fmt == "jsonl" else open(self.tmp, "w", encoding="utf-8", newline=""))  # noqa: SIM115
            self.files.append(out)
            if opts.fmt == "csv":
                self.csv = csv.writer(self.fh)
                self.csv.writerow(["id", "benchmark", "task", "split", "question", "options", "label", "annotator", "answer"])
        else:
            out.mkdir(exist_ok=True)
            self.handles: dict[str, Any] = {}
            self.counts: Counter[str] = Counter()

    def _messages(self, item: Item) -> list[dict[str, str]]:
        assert self.prompts is not None
        return render(self.prompts, item, self.style)

    def _handle(self, key: str) -> Any:
        h = self.handles.get(key)
        if h is None:
            path = self.opts.output / f"{key}.jsonl"
            h = self.handles[key] = self.stack.enter_context(open(path.with_name(path.name + ".tmp"), "wb"))  # noqa: SIM115
            self.files.append(path)
        return h

    def write(self, item: Item, split: str) -> bool:
        fmt = self.opts.fmt
        if fmt == "jsonl":
            row = dict(item, split=split)
            if self.opts.style:
                row["prompt"] = prompt_text(self._messages(item))
                row["style"] = self.opts.style
            self.fh.write(orjson.dumps(row) + b"\n")
            return True
        if fmt == "csv":
            options = " | ".join(f"{k}. {v}" for k, v in item["options"].items())
            self.csv.writerow([item["id"], item["benchmark"], item["task"], split, prompt_text(self._messages(item)), options, item["label"] or "", "", ""])
            return True
        if item["label"] is None:
            return False
        messages = self._messages(item)
        target = target_text(item, self.style)
        name = f"{self.opts.benchmark}_{split}" if fmt != "lm-eval" else f"{item['task']}_{split}"
        if fmt == "alpaca":
            system = next((m["content"] for m in messages if m["role"] == "system"), "")
            row: dict[str, Any] = {
                "instruction": prompt_text([m for m in messages if m["role"] != "system"]),
                "input": "",
                "output": target,
                "system": system,
                "id": item["id"],
                "task": item["task"],
            }
        elif fmt == "sharegpt":
            turns = [{"from": {"system": "system", "user": "human", "assistant": "gpt"}[m["role"]], "value": m["content"]} for m in messages]
            row = {"conversations": [*turns, {"from": "gpt", "value": target}], "id": item["id"], "task": item["task"]}
        else:
            letters = list(item["options"])
            row = {"id": item["id"], "task": item["task"], "prompt": prompt_text(messages), "choices": letters, "gold": letters.index(item["label"])}
        self._handle(name).write(orjson.dumps(row) + b"\n")
        self.counts[name] += 1
        return True

    def finish(self, tasks: list[str]) -> list[str]:
        """Move the finished files into place and write the format's index files."""
        if self.opts.fmt in ("jsonl", "csv"):
            self.fh.close()
            os.replace(self.tmp, self.opts.output)
            return [str(self.opts.output)]
        for h in self.handles.values():
            h.close()
        for p in self.files:
            os.replace(p.with_name(p.name + ".tmp"), p)
        out = [str(p) for p in self.files]
        if self.opts.fmt in ("alpaca", "sharegpt"):
            info: dict[str, Any] = {}
            for p in self.files:
                entry: dict[str, Any] = {"file_name": p.name, "formatting": self.opts.fmt}
                if self.opts.fmt == "alpaca":
                    entry["columns"] = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}
                else:
                    entry["columns"] = {"messages": "conversations"}
                    entry["tags"] = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "system_tag": "system"}
                info[f"intentkb_{p.stem}"] = entry
            out.append(str(merge_dataset_info(self.opts.output, info)))  # other datasets there stay
        else:
            for task in tasks:
                splits = {s: (self.opts.output / f"{task}_{s}.jsonl").resolve() for s in ("train", "test") if self.counts[f"{task}_{s}"]}
                if not splits:
                    continue
                path = self.opts.output / f"{task.replace('-', '_')}.yaml"
                path.write_text(_lm_eval_yaml(task, splits, self.style), encoding="utf-8")
                out.append(str(path))
        return out


def _lm_eval_yaml(task: str, splits: dict[str, Path], style: str) -> str:
    files = "".join(f"    {s}: {json.dumps(str(p))}\n" for s, p in splits.items())
    test = "test" if "test" in splits else "train"
    lines = [
        f"# lm-evaluation-harness task written by `intentkb tasks export` ({style}-shot prompts).",
        "# Run: lm_eval --model hf --model_args pretrained=MODEL --include_path THIS_DIR --tasks " + f"intentkb_{task.replace('-', '_')}",
        f"task: intentkb_{task.replace('-', '_')}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
    ]
    out = "\n".join(lines) + "\n" + files
    out += f"test_split: {test}\n"
    if "train" in splits and test == "test":
        out += "training_split: train\n"
    out += (
        "output_type: multiple_choice\n"
        'doc_to_text: "{{prompt}}"\n'
        'doc_to_choice: "{{choices}}"\n'
        "doc_to_target: gold\n"
        "metric_list:\n"
        "  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
        "metadata:\n  version: 1.0\n"
    )
    return out


def export_tasks(
    store: GraphStore, settings: Settings | None, opts: ExportOptions, progress: Callable[[int], None] | None = None, echo: Callable[[str], None] | None = None
) -> ExportReport:
    started = time.monotonic()
    tasks = task_names(opts.benchmark, opts.tasks)
    if opts.style == "cot" and opts.fmt in ("alpaca", "sharegpt"):
        raise IntentKBError("chain-of-thought training data needs rationales, which task items do not have: export SFT files with --prompt zero or few")
    check_output(opts.output, directory=opts.fmt not in ("jsonl", "csv"))
    needs_prompts = opts.fmt != "jsonl" or opts.style is not None
    prompts = Prompts(opts.prompts_dir) if needs_prompts else None
    if prompts is not None:
        templates(prompts, tasks)  # a missing or broken template fails now, not after an hour
    gold, labels_rejected = load_labels(opts.labels, echo) if opts.labels else ({}, 0)
    stats = BuildStats()
    by_task: dict[str, Counter[str]] = {t: Counter() for t in tasks}
    built = written = unlabelled = attached = 0
    with ExitStack() as stack:
        writer = _Writer(opts, prompts, stack)
        for item in build_items(store, settings, opts, stats):
            built += 1
            row = gold.get(item["id"])
            if row is not None:
                letter = _gold_letter(row, item)
                if letter is not None:
                    item["label"] = letter
                    item["gold"] = {k: row[k] for k in ("label", "agreement", "answers") if k in row}
                    attached += 1
            split = split_of(item["group"], opts.seed, opts.test_fraction)
            if writer.write(item, split):
                written += 1
                by_task[item["task"]][split] += 1
            else:
                unlabelled += 1
            if progress is not None and built % 10_000 == 0:
                progress(built)
            if opts.limit is not None and built >= opts.limit:
                break
        files = writer.finish(tasks)
    return ExportReport(
        benchmark=opts.benchmark,
        format=opts.fmt,
        mode=opts.mode,
        style=opts.style,
        files=files,
        items=built,
        written=written,
        unlabelled_left_out=unlabelled,
        by_task={t: dict(c) for t, c in by_task.items()},
        labels_attached=attached,
        labels_rejected=labels_rejected,
        build=stats,
        seconds=round(time.monotonic() - started, 2),
    )
