"""`intentkb tasks export`: task items from the graph to files, streamed (one item in memory at a
time beyond the builder's page), with the deterministic train/test split of `tasks/split.py`.

The benchmark's builder comes from the benchmark registry (`tasks/registry.py`), the files from the
writer registry (`writers.py`): jsonl items, a csv annotation sheet, alpaca / sharegpt SFT data with
LLaMA-Factory's dataset_info.json, lm-evaluation-harness tasks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from pydantic import BaseModel

from ..config import Settings
from ..errors import IntentKBError
from ..io.paths import check_output
from ..kb.store import GraphStore
from ..prompts.templates import Prompts
from ..tasks.registry import get_benchmark
from ..tasks.render import templates
from ..tasks.split import split_of
from ..tasks.stats import BuildStats
from .labels import attach_label, load_labels
from .options import ExportOptions
from .writers import writer_for


class ExportReport(BaseModel):
    benchmark: str
    format: str
    options: dict[str, Any] = {}  # the benchmark's own build options, as used
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
            f"{self.benchmark} tasks ({', '.join(f'{k} {v}' for k, v in self.options.items()) or 'all'}) -> {self.format}: "
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


def export_tasks(
    store: GraphStore, settings: Settings | None, opts: ExportOptions, progress: Callable[[int], None] | None = None, echo: Callable[[str], None] | None = None
) -> ExportReport:
    started = time.monotonic()
    bench = get_benchmark(opts.benchmark)
    foreign = sorted(set(opts.model_extra or {}) - set(bench.own_options()))
    if foreign:
        raise IntentKBError(f"{bench.name} has no option {', '.join(foreign)} (its options: {', '.join(bench.own_options()) or 'none'})")
    own = bench.options.model_validate(opts.model_dump()).model_dump(include=set(bench.own_options()))
    writer_cls = writer_for(opts.fmt)
    tasks = bench.task_names(opts.tasks)
    if opts.style == "cot" and not writer_cls.takes_cot:
        raise IntentKBError(f"chain-of-thought training data needs rationales, which task items do not have: export {opts.fmt} files with --prompt zero or few")
    check_output(opts.output, directory=writer_cls.directory)
    needs_prompts = writer_cls.needs_prompts or opts.style is not None
    prompts = Prompts(opts.prompts_dir) if needs_prompts else None
    if prompts is not None:
        templates(prompts, tasks)  # a missing or broken template fails now, not after an hour
    gold, labels_rejected = load_labels(opts.labels, echo) if opts.labels else ({}, 0)
    stats = BuildStats()
    by_task: dict[str, Counter[str]] = {t: Counter() for t in tasks}
    built = written = unlabelled = attached = 0
    with ExitStack() as stack:
        writer = writer_cls(opts, prompts, stack)
        for item in bench.items(store, settings, tasks, opts, stats):
            built += 1
            row = gold.get(item["id"])
            if row is not None and attach_label(item, row):
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
        options=own,
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
