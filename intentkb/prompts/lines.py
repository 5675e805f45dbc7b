"""Readers of the papers' line formats. A reader returns plain data or raises ParseError with a
message the model can act on (it is sent back once as a correction before the item is rejected).

Replies come with markdown noise (`**New Intention:**`, `1. `, `- `), keys in any case, values
running over several lines; the readers accept all of that and nothing vaguer."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel


class ParseError(ValueError):
    """The reply is not in the asked format; the message says what was wrong."""


_MARKUP = re.compile(r"^\s*(?:[-*•>#]+\s*|\d{1,3}[.)]\s+|\(\d{1,3}\)\s*)*")
_BOLD = re.compile(r"\*\*|__|`")
_MARKUP_START = frozenset("-*•>#(0123456789")


def _clean_line(line: str) -> str:
    return _MARKUP.sub("", _BOLD.sub("", line)).strip()


@lru_cache(maxsize=64)
def _key_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.compile(r"^(" + alternatives + r")\s*(?:\d{1,2})?\s*[:：]\s*(.*)$", re.I)


def keyed_blocks(text: str, keys: list[str]) -> list[tuple[str, str]]:
    """(key, value) in reply order for lines starting with one of `keys` (any case, with markup);
    a line starting with no key continues the previous value."""
    pattern = _key_pattern(tuple(keys))
    canon = {k.lower(): k for k in keys}
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[0] in _MARKUP_START or "*" in line or "`" in line or "__" in line:
            line = _clean_line(line)  # the regexes only where there is markup: most lines have none
            if not line:
                continue
        m = pattern.match(line)
        if m:
            out.append((canon[m.group(1).lower()], m.group(2).strip()))
        elif out:
            key, value = out[-1]
            out[-1] = (key, f"{value}\n{line}".strip())
    return out


def _fold(v: str) -> str:
    return " ".join(v.split())


def _strip_end(v: str) -> str:
    return v.strip().strip("\"'").rstrip(".").strip()


def name_value(raw: str, what: str) -> tuple[str, str]:
    """`name: value` → (name, value); refused when either side is empty."""
    name, sep, value = _strip_end(raw).partition(":")
    name, value = _strip_end(name), _strip_end(value)
    if not sep or not name or not value:
        raise ParseError(f"{what} must be written 'name: value', got {raw!r}")
    return name, value


def _words(s: str) -> int:
    return len(s.split())


# -- SessionIntentBench -------------------------------------------------------------------------


class ExtractedAttributes(BaseModel):
    category: str
    attributes: list[tuple[str, str]]
    dropped: int = 0


def parse_attributes(text: str, *, max_words: int = 3, **_: Any) -> ExtractedAttributes:
    """`Category: …` and `Attributes: a: b | c: d` (appendix A.1). Attributes longer than
    `max_words` a side are dropped (the prompt asks for ≤ 3 words); none left is an error."""
    blocks = dict(keyed_blocks(text, ["Category", "Attributes", "Attribute"]))
    raw = blocks.get("Attributes") or blocks.get("Attribute") or ""
    pieces = [p for p in re.split(r"\s*[|;\n]\s*", raw) if p.strip()]
    if len(pieces) == 1 and raw.count(":") > 1:
        pieces = [p for p in re.split(r",\s+(?=[^,:]{1,40}:)", raw) if p.strip()]
    pairs: list[tuple[str, str] | None] = []
    for piece in pieces:
        try:
            pairs.append(name_value(piece, "an attribute"))
        except ParseError:
            pairs.append(None)
    return checked_attributes(_fold(blocks.get("Category", "")), pairs, max_words)


def checked_attributes(category: str, pairs: list[tuple[str, str] | None], max_words: int = 3) -> ExtractedAttributes:
    """The rules of an attribute reply in either wire format: a category of at most `max_words`;
    pairs over `max_words` a side, repeated or unreadable (None) are dropped; none left is an error."""
    category = _strip_end(category)
    if not category:
        raise ParseError("the reply has no 'Category:' line")
    if _words(category) > max_words:
        raise ParseError(f"the category must be at most {max_words} words, got {category!r}")
    attrs: list[tuple[str, str]] = []
    dropped = 0
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        if pair is None:
            dropped += 1
            continue
        name, value = _strip_end(pair[0]), _strip_end(pair[1])
        key = (name.lower(), value.lower())
        if not name or not value or _words(name) > max_words or _words(value) > max_words or key in seen:
            dropped += 1
            continue
        seen.add(key)
        attrs.append((name, value))
    if not attrs:
        raise ParseError(f"no attribute in the form 'name: value' of at most {max_words} words each after 'Attributes:'")
    return ExtractedAttributes(category=category, attributes=attrs, dropped=dropped)


class TreeIntention(BaseModel):
    text: str
    attribute: tuple[str, str] | None
    rationale: str | None
    comparison_aspect: str | None = None
    comparison: str | None = None


def parse_intentions(text: str, *, n: int = 1, comparison: bool = True, **_: Any) -> list[TreeIntention]:
    """`New Intention / Attribute / Rationale / Comparison` blocks (appendix A.2), exactly `n` of
    them (extra ones are ignored); comparison required from step 2 on."""
    blocks: list[dict[str, str]] = []
    for key, value in keyed_blocks(text, ["New Intention", "Intention", "Attribute", "Rationale", "Comparison"]):
        value = _fold(value)
        if key in ("New Intention", "Intention"):
            blocks.append({"text": value})
        elif blocks:
            blocks[-1].setdefault(key.lower(), value)
    out: list[TreeIntention] = []
    for i, b in enumerate(blocks[:n], 1):
        label = f"intention {i}"
        body = _strip_end(b["text"])
        if not body:
            raise ParseError(f"{label} has an empty 'New Intention:' line")
        if "attribute" not in b:
            raise ParseError(f"{label} has no 'Attribute: name: value' line")
        attr = name_value(b["attribute"], f"the attribute of {label}")
        rationale = b.get("rationale", "").strip() or None
        if rationale is None:
            raise ParseError(f"{label} has no 'Rationale:' line")
        aspect = cmp_text = None
        if comparison:
            raw = b.get("comparison", "").strip()
            if not raw:
                raise ParseError(f"{label} has no 'Comparison: aspect: comparison' line")
            a, sep, rest = raw.partition(":")
            aspect, cmp_text = (a.strip(), rest.strip()) if sep and rest.strip() and _words(a) <= 6 else (None, raw)
        # every field is a checked str already: construct without a second validation
        out.append(TreeIntention.model_construct(text=body, attribute=attr, rationale=rationale, comparison_aspect=aspect, comparison=cmp_text))
    if len(out) < n:
        raise ParseError(f"expected {n} intentions, each starting with 'New Intention:', found {len(out)}")
    return out


# -- MIND ---------------------------------------------------------------------------------------


def parse_free_text(text: str, *, min_chars: int = 20, **_: Any) -> str:
    body = text.strip()
    if len(body) < min_chars:
        raise ParseError(f"the description is too short ({len(body)} characters)")
    return body


def parse_cobuy_intention(text: str, *, max_words: int = 200, **_: Any) -> str:
    """One co-buy intention (MIND §3.4): the reply's text, whitespace folded; the relation's lead
    phrase is kept (it is part of the MIND intention text)."""
    body = re.sub(r"\s+", " ", _BOLD.sub("", text)).strip().strip('"')
    if len(body) < 10:
        raise ParseError("the intention is empty or too short")
    if _words(body) > max_words:
        raise ParseError(f"the intention is longer than {max_words} words")
    return body


class FilterVerdict(BaseModel):
    accepted: bool
    reason: str | None


def parse_verdict(text: str, **_: Any) -> FilterVerdict:
    """`Yes, …` or `No, …` (MIND role-aware filter): the first yes/no word decides."""
    lines = [_clean_line(x) for x in text.splitlines()]
    lines = [x for x in lines if x]
    if lines:
        m = re.match(r"^(?:answer\s*[:：]\s*)?(yes|no)\b[\s,.:;!-]*(.*)$", lines[0], re.I)
        if m:
            reason = " ".join([m.group(2).strip(), *lines[1:]]).strip()
            return FilterVerdict(accepted=m.group(1).lower() == "yes", reason=reason or None)
    raise ParseError("the answer must start with 'Yes' or 'No', then the reason")


# -- EcomScriptBench -----------------------------------------------------------------------------


class Objective(BaseModel):
    objective: str
    specific_goal: str | None
    constraint: str | None


def parse_objectives(text: str, *, n: int = 1, **_: Any) -> list[Objective]:
    out: list[dict[str, str]] = []
    for key, value in keyed_blocks(text, ["Objective", "Specific Goal", "Constraint"]):
        value = _fold(value)
        if key == "Objective":
            out.append({"objective": _strip_end(value)})
        elif out:
            out[-1].setdefault(key.lower().replace(" ", "_"), _strip_end(value))
    objs = [
        Objective(objective=o["objective"], specific_goal=o.get("specific_goal") or None, constraint=o.get("constraint") or None) for o in out if o["objective"]
    ]
    if len(objs) < n:
        raise ParseError(f"expected {n} blocks starting with 'Objective:', found {len(objs)}")
    return objs[:n]


_STEP = re.compile(r"^\s*(?:[-*•]\s*)?(?:\*\*)?(?:step\s*)?(\d{1,2})\s*[.):：]\s*(?:\*\*)?\s*(.+)$", re.I)


def parse_steps(text: str, *, min_steps: int = 2, max_steps: int = 30, **_: Any) -> list[str]:
    """`Step 1: …` or `1. …` lines, in order, numbered from 1 without gaps."""
    steps: list[str] = []
    for raw in text.splitlines():
        m = _STEP.match(_BOLD.sub("", raw))
        if m:
            if int(m.group(1)) != len(steps) + 1:
                raise ParseError(f"steps must be numbered 1, 2, 3, …; found step {m.group(1)} after {len(steps)} steps")
            step = _strip_end(m.group(2))
            if step:
                steps.append(step)
    if len(steps) < min_steps:
        raise ParseError(f"expected at least {min_steps} lines 'Step N: …', found {len(steps)}")
    return steps[:max_steps]


def parse_purchase_intentions(text: str, *, n: int = 1, **_: Any) -> list[str]:
    """`Intention 1: …` or numbered lines, at least `n` distinct; the first `n` are kept."""
    found = [_fold(v) for _, v in keyed_blocks(text, ["Intention", "Purchase Intention"])]
    if not found:
        found = [m.group(2) for raw in text.splitlines() if (m := _STEP.match(_BOLD.sub("", raw)))]
    return checked_purchase_intentions(found, n)


def checked_purchase_intentions(found: list[str], n: int) -> list[str]:
    """At least `n` distinct non-empty intentions (case-folded); the first `n` are kept."""
    seen: set[str] = set()
    out: list[str] = []
    for v in (_strip_end(_fold(x)) for x in found):
        if v and v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    if len(out) < n:
        raise ParseError(f"expected {n} distinct intentions, found {len(out)}")
    return out[:n]
