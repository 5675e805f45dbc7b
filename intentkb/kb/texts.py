"""What a text of the knowledge base says, without the wrapping its source puts around it.

Two kinds of noise come with the public data and the generators' replies:

- **Boilerplate openings**: every MIND intention starts "The potential co-buy intention for these
  two products could be that …", every FolkScope assertion "PersonX bought a product of Item A and a
  product of Item B because …". They carry no meaning, and embedded whole they pull every intention
  towards every other (a need for a travel mug then matches socks). `BOILERPLATE` is the table of
  known openings; `add_boilerplate` extends it (for a generator with a lead-in of its own).
- **HTML entities** in catalogue titles and descriptions (`Melissa &amp; Doug`): `unescape_html`,
  applied to every text field at ingest.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Boilerplate:
    name: str
    pattern: re.Pattern[str]  # matched at the start of the text; what it matches is dropped


BOILERPLATE: list[Boilerplate] = [
    # MIND (and intentkb's mind_intention replies): "The potential co-buy intention for these two
    # products could be that", "… for people purchasing these two Casio watches might be:", …
    Boilerplate(
        "mind-cobuy-lead",
        re.compile(
            r"^(?:the\s+)?(?:potential\s+|possible\s+|likely\s+)?co-?buy(?:ing)?\s+intention\b[^\n]{0,240}?\b"
            r"(?:(?:could|would|might|may)\s+be|is\s+likely\s+to\s+be|is)(?:\s+that)?[\s:,]*",
            re.I,
        ),
    ),
    # FolkScope assertions: "PersonX bought (a product of) Item A and (a product of) Item B because …"
    Boilerplate(
        "folkscope-assertion",
        re.compile(
            r"^personx\s+bought\s+(?:a\s+product\s+of\s+)?item\s+a\s+and\s+(?:a\s+product\s+of\s+)?item\s+b\s+"
            r"(?:because\s+|as\s+a\s+result,?\s+|so\s+that\s+|in\s+order\s+to\s+)?",
            re.I,
        ),
    ),
]


def add_boilerplate(name: str, pattern: str) -> None:
    """Drop texts' openings matching `pattern` (a regular expression, matched case-insensitively at
    the start) wherever intentkb strips boilerplate: embedding, questions, snippets."""
    BOILERPLATE.append(Boilerplate(name, re.compile(pattern if pattern.startswith("^") else "^" + pattern, re.I)))


def strip_boilerplate(text: str) -> str:
    """`text` without its known opening (the first that matches); the text itself when nothing
    would be left."""
    t = text.strip()
    for b in BOILERPLATE:
        m = b.pattern.match(t)
        if m and m.end():
            rest = t[m.end() :].lstrip(" :,-")
            if rest:
                return rest
    return t


_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def unescape_html(text: str) -> str:
    """HTML entities replaced by their characters; twice at most, for the doubly escaped
    (`&amp;amp;`) that scraped catalogues carry."""
    for _ in range(2):
        if "&" not in text or not _ENTITY.search(text):
            break
        text = html.unescape(text)
    return text


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip(), maxsplit=1)[0]


def snippet(text: str, limit: int = 120) -> str:
    """A readable piece of an intention: boilerplate off, the first sentence, cut at a word."""
    first = first_sentence(strip_boilerplate(" ".join(text.split())))
    first = first[:1].upper() + first[1:]
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
