"""alpaca / sharegpt: supervised fine-tuning files per split (`<benchmark>_train.jsonl`,
`<benchmark>_test.jsonl`) with their entries merged into the folder's LLaMA-Factory
`dataset_info.json`. Only labelled items: a model needs an answer to learn."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from ..io.dataset_info import merge_dataset_info
from ..tasks.items import Item
from ..tasks.render import prompt_text, target_text
from .writers import SplitFiles, register_writer


class SftWriter(SplitFiles):
    takes_cot = False  # chain-of-thought targets need rationales, which task items do not have
    columns: ClassVar[dict[str, Any]]

    def row(self, item: Item, messages: list[dict[str, str]], target: str) -> dict[str, Any]:
        raise NotImplementedError

    def write(self, item: Item, split: str) -> bool:
        if item["label"] is None:
            return False
        row = self.row(item, self.messages(item), target_text(item, self.style))
        self.handle(f"{self.opts.benchmark}_{split}").write(orjson.dumps(row) + b"\n")
        return True

    def finish(self, tasks: list[str]) -> list[str]:
        out = super().finish(tasks)
        entries = {f"intentkb_{p.stem}": {"file_name": p.name, "formatting": self.name, **self.columns} for p in self.files}
        return [*out, str(merge_dataset_info(self.opts.output, entries))]  # other datasets there stay


@register_writer
class AlpacaWriter(SftWriter):
    name = "alpaca"
    help = "LLaMA-Factory SFT data, instruction/output"
    columns: ClassVar[dict[str, Any]] = {"columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}

    def row(self, item: Item, messages: list[dict[str, str]], target: str) -> dict[str, Any]:
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        instruction = prompt_text([m for m in messages if m["role"] != "system"])
        return {"instruction": instruction, "input": "", "output": target, "system": system, "id": item["id"], "task": item["task"]}


@register_writer
class ShareGptWriter(SftWriter):
    name = "sharegpt"
    help = "LLaMA-Factory SFT data, conversations"
    columns: ClassVar[dict[str, Any]] = {
        "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "system_tag": "system"},
    }
    ROLES: ClassVar[dict[str, str]] = {"system": "system", "user": "human", "assistant": "gpt"}

    def row(self, item: Item, messages: list[dict[str, str]], target: str) -> dict[str, Any]:
        turns = [{"from": self.ROLES[m["role"]], "value": m["content"]} for m in messages]
        return {"conversations": [*turns, {"from": "gpt", "value": target}], "id": item["id"], "task": item["task"]}
