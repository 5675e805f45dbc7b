"""The one check every query text and parameter set from outside passes before it reaches a store.

Measured on the embedded FalkorDB server: its parser takes time exponential in bracket nesting
(depth 16: 0.13 s, 18: 0.5 s, 20: 2 s, 50: over a minute) on the server's main thread, so one such
query stalls every client, and 60,000 nested brackets overflow its stack and kill the process. Its
query TIMEOUT does not cover parsing. So nesting and length are bounded here, before sending; the
server's own TIMEOUT and QUERY_MEM_CAPACITY bound what runs after parsing. Parameters are bounded
in depth (the encoders recurse) and their map keys must be encodable.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from ..errors import StoreError

MAX_QUERY_CHARS = 100_000
MAX_QUERY_NESTING = 12  # depth 12 parses in ~10 ms; each level more doubles it
MAX_PARAM_DEPTH = 64


class QueryRefused(StoreError):
    """A query or parameter refused before it was sent; nothing ran."""


def query_nesting(text: str) -> int:
    """Deepest nesting of (), [] and {} outside string literals, backticked names and comments."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c in "'\"`":
            i += 1
            while i < n and text[i] != c:
                i += 2 if text[i] == "\\" and c != "`" else 1
        elif c == "/" and text.startswith("//", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        i += 1
    return deepest


def check_query_text(text: str, *, max_chars: int = MAX_QUERY_CHARS, max_nesting: int = MAX_QUERY_NESTING) -> None:
    if len(text) > max_chars:
        raise QueryRefused(f"query refused: {len(text):,} characters, the limit is {max_chars:,} (INTENTKB_QUERY_MAX_CHARS)")
    depth = query_nesting(text)
    if depth > max_nesting:
        raise QueryRefused(
            f"query refused: brackets nested {depth} deep, the limit is {max_nesting} "
            f"(INTENTKB_QUERY_MAX_NESTING; deeper nesting stalls the embedded server's parser)"
        )


def check_params(params: Mapping[str, Any], *, max_depth: int = MAX_PARAM_DEPTH) -> None:
    """Names are identifiers, values are JSON-like, nested at most `max_depth`, map keys are
    non-empty text without a backtick (no engine's parameter syntax can carry one), numbers finite."""
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise QueryRefused(f"parameter name {name!r} is not an identifier")
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            v, d = stack.pop()
            if d > max_depth:
                raise QueryRefused(f"parameter ${name}: nested more than {max_depth} deep")
            if isinstance(v, Mapping):
                for k, x in v.items():
                    if not isinstance(k, str) or not k or "`" in k:
                        raise QueryRefused(f"parameter ${name}: map key {k!r} cannot be sent (empty, not text, or holds a backtick)")
                    stack.append((x, d + 1))
            elif isinstance(v, (list, tuple)):
                stack.extend((x, d + 1) for x in v)
            elif isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and not math.isfinite(v):
                raise QueryRefused(f"parameter ${name}: {v} is not a finite number")
            elif v is not None and not isinstance(v, (str, numbers.Real)):  # numpy scalars are Reals
                raise QueryRefused(f"parameter ${name}: a {type(v).__name__} cannot be sent")
