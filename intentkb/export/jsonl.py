"""jsonl: one item a line (id, benchmark, task, inputs, options, label, positive, group, provenance,
split; `prompt` and `style` too when --prompt is given). What `eval run` reads."""

from __future__ import annotations

from contextlib import ExitStack

import orjson

from ..prompts.templates import Prompts
from ..tasks.items import Item
from ..tasks.render import prompt_text
from .options import ExportOptions
from .writers import Writer, register_writer


@register_writer
class JsonlWriter(Writer):
    name = "jsonl"
    help = "items, one a line (what eval run reads)"
    needs_prompts = False

    def __init__(self, opts: ExportOptions, prompts: Prompts | None, stack: ExitStack) -> None:
        super().__init__(opts, prompts, stack)
        self.fh = self.open_tmp(opts.output)

    def write(self, item: Item, split: str) -> bool:
        row = dict(item, split=split)
        if self.opts.style:
            row["prompt"] = prompt_text(self.messages(item))
            row["style"] = self.opts.style
        self.fh.write(orjson.dumps(row) + b"\n")
        return True
