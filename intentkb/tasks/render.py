"""Task prompts in the three styles of the papers, and the reading of a model's answer.

Each task has one template file, `task_<benchmark>_t<N>.txt` (bundled in intentkb/tasks/<benchmark>/templates,
replaceable from a directory with --prompts, like the generation prompts), rendered with the item's
inputs, its options and `style`: `zero` (answer with the letter), `few` (five worked examples, then
"Answer:") or `cot` (reason first, the letter alone on the last line: SessionIntentBench Table 13).

Every bundled task template opens with the same **knowledge block**: when `knowledge` (a list of
texts) is given and not empty, "Background knowledge …" and one line per text come before the
question; otherwise the block renders to nothing, so the prompt is the paper's. A replacement
template may leave the block out (then `--inject` changes nothing in its prompts) or word it its own way.
"""

from __future__ import annotations

import re
from typing import Any

from ..prompts.templates import Prompts, Template
from .items import Item
from .registry import get_benchmark

STYLES: tuple[str, ...] = ("zero", "few", "cot")


def template_name(task: str) -> str:
    return "task_" + task.replace("-", "_")


def prompt_values(item: Item, style: str, knowledge: list[str] | None = None) -> dict[str, Any]:
    """`knowledge`: background intentions (`eval run --inject`), shown by the templates' knowledge block."""
    return {**item["inputs"], "options": item["options"], "style": style, "knowledge": knowledge or []}


def render(prompts: Prompts, item: Item, style: str) -> list[dict[str, str]]:
    return prompts.get(template_name(item["task"])).render(**prompt_values(item, style))


def prompt_text(messages: list[dict[str, str]]) -> str:
    """One string of a chat prompt, for formats that take text (CSV, Alpaca, lm-eval)."""
    return "\n\n".join(m["content"] for m in messages if m["role"] != "assistant")


def target_text(item: Item, style: str) -> str:
    """The answer a fine-tuned model should give in `style`: what the template asks for."""
    label = item["label"]
    if style == "few":
        return f"{label}. {item['options'][label]}" if get_benchmark(item["benchmark"]).answer == "letter_and_option" else label
    return label


def templates(prompts: Prompts, tasks: list[str]) -> dict[str, Template]:
    """Every task's template, read once (and checked to exist) before a long export starts."""
    return {t: prompts.get(template_name(t)) for t in tasks}


_MARKUP = re.compile(r"[*_`#>]+")
_PREFIX = re.compile(r"^(?:final\s+)?(?:answer|choice|option)(?:\s+is)?\s*[:\-]?\s*", re.I)
_LETTER = re.compile(r"^\(?([A-Za-z])\)?(?=$|[.):,]|\s)")
_ANYWHERE = re.compile(r"(?:answer|choice)(?:\s+is)?\s*[:\-]?\s*\(?([A-Z])\)?(?=$|[.):,]|\s)", re.I)


def _lead(line: str, options: dict[str, str]) -> str | None:
    """The letter a line answers with: "B", "(B)", "B.", "B) Maybe yes", "Answer: B", "B Maybe yes";
    not the article of "A customer would…"."""
    prefixed = _PREFIX.sub("", line, count=1)
    m = _LETTER.match(prefixed)
    if not m or m.group(1).upper() not in options:
        return None
    letter, rest = m.group(1).upper(), prefixed[m.end() :]
    marked = prefixed != line or m.group(0) != m.group(1)  # "Answer: b", "(b)", "b)"
    if marked or not rest.strip() or rest[0] in ".):,":
        return letter
    return letter if rest.strip().casefold().startswith(options[letter].casefold()) else None


def parse_answer(text: str | None, options: dict[str, str], style: str) -> str | None:
    """The option letter a reply chooses, or None (an invalid answer, counted as wrong).

    cot: the last non-empty line must carry the letter (SessionIntentBench's CoT protocol).
    zero/few: the first line's letter, else "Answer: X" anywhere, else a reply that is exactly one
    option's text ("Maybe yes")."""
    if not text:
        return None
    lines = [ln for ln in (_MARKUP.sub("", x).strip() for x in text.strip().splitlines()) if ln]
    if not lines:
        return None
    if style == "cot":
        return _lead(lines[-1], options)
    found = _lead(lines[0], options)
    if found:
        return found
    m = _ANYWHERE.search(" ".join(lines))
    if m and m.group(1).upper() in options:
        return m.group(1).upper()
    names = {v.casefold().rstrip("."): k for k, v in options.items()}
    return names.get(lines[0].casefold().rstrip("."))
