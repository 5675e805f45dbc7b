"""The file formats of `tasks export`: one `Writer` class per format, registered by name.

A writer gets each built item with its split and says whether it took it; `finish` moves its files
into place (each is written as `NAME.tmp` and renamed, so an interrupted export leaves no half file
under the real name) and writes the format's index files. The CLI's `--output-format` choices are
the registered names. Adding a format is its module plus its line in `MODULES`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, ClassVar

from ..prompts.templates import Prompts
from ..registry import Registry
from ..tasks.items import Item
from ..tasks.render import render
from .options import ExportOptions

MODULES: tuple[str, ...] = ("intentkb.export.jsonl", "intentkb.export.sheet", "intentkb.export.sft", "intentkb.export.lm_eval")


class Writer(ABC):
    name: ClassVar[str]
    help: ClassVar[str]  # one line for `--help`
    directory: ClassVar[bool] = False  # writes a folder of files (else one file at --output)
    needs_prompts: ClassVar[bool] = True  # renders the task templates whatever --prompt says
    takes_cot: ClassVar[bool] = True  # chain-of-thought prompts make sense in it (SFT needs rationales)

    def __init__(self, opts: ExportOptions, prompts: Prompts | None, stack: ExitStack) -> None:
        self.opts, self.prompts, self.stack = opts, prompts, stack
        self.style = opts.style or "zero"
        self.files: list[Path] = []

    def messages(self, item: Item) -> list[dict[str, str]]:
        assert self.prompts is not None
        return render(self.prompts, item, self.style)

    def open_tmp(self, path: Path, mode: str = "wb", **kw: Any) -> IO[Any]:
        """A file written as PATH.tmp, renamed to PATH by `finish`."""
        handle: IO[Any] = self.stack.enter_context(open(path.with_name(path.name + ".tmp"), mode, **kw))  # noqa: SIM115
        self.files.append(path)
        return handle

    @abstractmethod
    def write(self, item: Item, split: str) -> bool:
        """Write `item` (of `split`); False when this format cannot hold it (e.g. no label)."""

    def finish(self, tasks: list[str]) -> list[str]:
        self.stack.close()
        for p in self.files:
            os.replace(p.with_name(p.name + ".tmp"), p)
        return [str(p) for p in self.files]


class SplitFiles(Writer):
    """A folder with one JSONL file per (name, split), opened when its first row comes."""

    directory = True

    def __init__(self, opts: ExportOptions, prompts: Prompts | None, stack: ExitStack) -> None:
        super().__init__(opts, prompts, stack)
        opts.output.mkdir(exist_ok=True)  # its parent was checked by check_output
        self.handles: dict[str, IO[bytes]] = {}
        self.counts: Counter[str] = Counter()

    def handle(self, key: str) -> IO[bytes]:
        h = self.handles.get(key)
        if h is None:
            h = self.handles[key] = self.open_tmp(self.opts.output / f"{key}.jsonl")
        self.counts[key] += 1
        return h


_WRITERS: Registry[type[Writer]] = Registry("export format", MODULES, lambda w: w.name, lambda w: w.__module__, group="intentkb.export_formats")
register_writer = _WRITERS.register
writers = _WRITERS.all
writer_for = _WRITERS.get
