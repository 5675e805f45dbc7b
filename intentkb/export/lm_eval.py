"""lm-eval: lm-evaluation-harness multiple-choice tasks: one YAML per task over data files per
split (`<task>_train.jsonl`, `<task>_test.jsonl`). Only labelled items."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from ..tasks.items import Item
from ..tasks.render import prompt_text
from .writers import SplitFiles, register_writer


@register_writer
class LmEvalWriter(SplitFiles):
    name = "lm-eval"
    help = "lm-evaluation-harness tasks"

    def write(self, item: Item, split: str) -> bool:
        if item["label"] is None:
            return False
        letters = list(item["options"])
        row = {"id": item["id"], "task": item["task"], "prompt": prompt_text(self.messages(item)), "choices": letters, "gold": letters.index(item["label"])}
        self.handle(f"{item['task']}_{split}").write(orjson.dumps(row) + b"\n")
        return True

    def finish(self, tasks: list[str]) -> list[str]:
        out = super().finish(tasks)
        for task in tasks:
            splits = {s: (self.opts.output / f"{task}_{s}.jsonl").resolve() for s in ("train", "test") if self.counts[f"{task}_{s}"]}
            if splits:
                path = self.opts.output / f"{task.replace('-', '_')}.yaml"
                path.write_text(lm_eval_yaml(task, splits, self.style), encoding="utf-8")
                out.append(str(path))
        return out


def lm_eval_yaml(task: str, splits: dict[str, Path], style: str) -> str:
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
