"""csv: an annotation sheet: the rendered question, the options, empty `annotator` and `answer`
columns; the filled sheets of three annotators, concatenated, are what `annotations import` reads."""

from __future__ import annotations

import csv
from contextlib import ExitStack

from ..prompts.templates import Prompts
from ..tasks.items import Item
from ..tasks.render import prompt_text
from .options import ExportOptions
from .writers import Writer, register_writer

COLUMNS = ["id", "benchmark", "task", "split", "question", "options", "label", "annotator", "answer"]


@register_writer
class SheetWriter(Writer):
    name = "csv"
    help = "an annotation sheet"

    def __init__(self, opts: ExportOptions, prompts: Prompts | None, stack: ExitStack) -> None:
        super().__init__(opts, prompts, stack)
        self.csv = csv.writer(self.open_tmp(opts.output, "w", encoding="utf-8", newline=""))
        self.csv.writerow(COLUMNS)

    def write(self, item: Item, split: str) -> bool:
        options = " | ".join(f"{k}. {v}" for k, v in item["options"].items())
        self.csv.writerow([item["id"], item["benchmark"], item["task"], split, prompt_text(self.messages(item)), options, item["label"] or "", "", ""])
        return True
