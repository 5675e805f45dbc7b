"""Deterministic ids: the same input always gives the same id, so every write can be a MERGE."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

_WS = re.compile(r"\s+")


def norm(text: str) -> str:
    """Case- and whitespace-insensitive form used inside content hashes."""
    return _WS.sub(" ", text).strip().lower()


def stable_id(prefix: str, *parts: object) -> str:
    """`prefix` + 20 hex chars of BLAKE2b over the parts (80 bits: collision-free at KB scale)."""
    h = hashlib.blake2b(digest_size=10)
    for part in parts:
        h.update(b"\x1f")
        h.update(("" if part is None else str(part)).encode("utf-8"))
    return f"{prefix}{h.hexdigest()}"


def product_id(asin: str, locale: str | None = None) -> str:
    """ASIN alone, or `locale:ASIN` where one ASIN names different listings per locale (Amazon-M2)."""
    asin = asin.strip()
    return f"{locale.strip().upper()}:{asin}" if locale else asin


def attribute_id(name: str, value: str) -> str:
    return stable_id("a", norm(name), norm(value))


def session_id(locale: str | None, items: list[str], next_item: str | None) -> str:
    return stable_id("s", (locale or "").upper(), " ".join(items), next_item or "")


def session_intention_id(session: str, path: tuple[int, ...]) -> str:
    """Position in the tree, not text: a regenerated tree updates its nodes in place."""
    return stable_id("i", "session", session, ".".join(map(str, path)))


def session_intention_ider(session: str) -> Callable[[tuple[int, ...]], str]:
    """`session_intention_id` for many nodes of one session: the session prefix is hashed once."""
    base = hashlib.blake2b(digest_size=10)
    base.update(b"\x1fsession\x1f" + session.encode("utf-8"))

    def ider(path: tuple[int, ...]) -> str:
        h = base.copy()
        h.update(b"\x1f" + ".".join(map(str, path)).encode("ascii"))
        return "i" + h.hexdigest()

    return ider


def cobuy_intention_id(a: str, b: str, relation: str, text: str) -> str:
    return stable_id("i", "cobuy", a, b, relation, norm(text))


def purchase_intention_id(product: str, text: str) -> str:
    return stable_id("i", "purchase", product, norm(text))


def script_id(objective: str, specific_goal: str | None, constraint: str | None, steps: list[str]) -> str:
    return stable_id("c", norm(objective), norm(specific_goal or ""), norm(constraint or ""), *(norm(s) for s in steps))


def step_id(script: str, idx: int) -> str:
    return stable_id("t", script, idx)
