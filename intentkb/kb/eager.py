"""Ranges whose size can be known before running. FalkorDB allocates a `range()` whole, before its
per-query memory cap applies: `range(1, 3000000000)` made it abort, and `range(1, 3000000*1000)`
grew it to 19 GB before the supervisor stopped it. The bounds are evaluated where they are
constants: numbers, parameters, `literal AS name` aliases, arithmetic on those (+ - * / % ^ and
brackets) and toInteger/toFloat/abs/round/floor/ceil of them (a numeric string included). Bounds
that come from the data are left to the server's memory limit and the supervisor."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import QueryRefused
from .cypher_lexer import CLAUSES, Token, number_literal, tokens

Num = int | float
_FUNCTIONS: dict[str, Callable[[Num], Num]] = {
    "TOINTEGER": lambda v: int(v),
    "TOFLOAT": float,
    "ABS": abs,
    "ROUND": round,
    "FLOOR": math.floor,
    "CEIL": math.ceil,
}
_MAX_MAGNITUDE = 1 << 200  # beyond any real bound; keeps `9^9^9` from taking long


class _Unknown(Exception):
    pass


class _Folder:
    """A recursive-descent evaluator over one argument's tokens; `_Unknown` when it is not constant."""

    def __init__(self, toks: Sequence[Token], params: Mapping[str, Any], aliases: Mapping[str, Num]) -> None:
        self.toks, self.i, self.params, self.aliases = toks, 0, params, aliases

    def value(self) -> Num:
        v = self.additive()
        if self.i != len(self.toks):
            raise _Unknown
        return v

    def _peek(self) -> str:
        return self.toks[self.i].text if self.i < len(self.toks) else ""

    def additive(self) -> Num:
        v = self.term()
        while self._peek() in ("+", "-"):
            op = self.toks[self.i].text
            self.i += 1
            w = self.term()
            v = v + w if op == "+" else v - w
        return _checked(v)

    def term(self) -> Num:
        v = self.power()
        while self._peek() in ("*", "/", "%"):
            op = self.toks[self.i].text
            self.i += 1
            w = self.power()
            if op == "*":
                v = v * w
            elif not w:
                raise _Unknown
            elif op == "/":
                v = v // w if isinstance(v, int) and isinstance(w, int) else v / w
            else:
                v = math.fmod(v, w)
        return _checked(v)

    def power(self) -> Num:
        v = self.unary()
        while self._peek() == "^":  # left to right, as Cypher reads it
            self.i += 1
            w = self.unary()
            if abs(w) > 64 or abs(v) > 1 << 64:
                raise _Unknown
            v = _checked(float(v) ** float(w))
        return _checked(v)

    def unary(self) -> Num:
        if self._peek() in ("+", "-"):
            op = self.toks[self.i].text
            self.i += 1
            v = self.unary()
            return -v if op == "-" else v
        return self.atom()

    def atom(self) -> Num:
        if self.i >= len(self.toks):
            raise _Unknown
        tok = self.toks[self.i]
        self.i += 1
        if tok.text == "(":
            v = self.additive()
            if self._peek() != ")":
                raise _Unknown
            self.i += 1
            return v
        if tok.kind == "number":
            return _num(number_literal(tok.text))
        if tok.kind == "param":
            return _num(self.params.get(tok.text[1:].strip("`")))
        if tok.kind == "name" and tok.word in _FUNCTIONS and self._peek() == "(":
            self.i += 1
            if self.i < len(self.toks) and self.toks[self.i].kind == "string" and self.toks[self.i].text[:1] in "'\"":
                arg: Num = _num(number_literal(self.toks[self.i].text[1:-1].strip()))
                self.i += 1
            else:
                arg = self.additive()
            if self._peek() != ")":
                raise _Unknown
            self.i += 1
            return _checked(_FUNCTIONS[tok.word](arg))
        if tok.kind == "name" and tok.text in self.aliases:
            return self.aliases[tok.text]
        raise _Unknown


def _num(v: Any) -> Num:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise _Unknown
    return int(v) if isinstance(v, numbers.Integral) else float(v)


def _checked(v: Num) -> Num:
    if (isinstance(v, float) and not math.isfinite(v)) or abs(v) > _MAX_MAGNITUDE:
        raise _Unknown
    return v


def constant(toks: Sequence[Token], params: Mapping[str, Any], aliases: Mapping[str, Num]) -> Num | None:
    """The value of an expression known before running, else None."""
    try:
        return _Folder(toks, params, aliases).value() if toks else None
    except (_Unknown, ValueError, OverflowError, TypeError):
        return None


def _arguments(toks: list[Token], start: int) -> list[list[Token]]:
    """The comma-separated arguments of the call whose `(` is at `start`."""
    args: list[list[Token]] = [[]]
    level = 0
    for t in toks[start + 1 :]:
        if t.text in ("(", "[", "{"):
            level += 1
        elif t.text in (")", "]", "}"):
            if level == 0:
                break
            level -= 1
        if t.text == "," and level == 0:
            args.append([])
        else:
            args[-1].append(t)
    return args


def _closing(toks: list[Token], start: int) -> int | None:
    """The index of the bracket that closes the one at `start` (None: a syntax error, the engine's to report)."""
    level = 0
    for j in range(start, len(toks)):
        if toks[j].text in ("(", "[", "{"):
            level += 1
        elif toks[j].text in (")", "]", "}"):
            level -= 1
            if level == 0:
                return j
    return None


def _aliases(toks: list[Token], params: Mapping[str, Any]) -> dict[str, Num]:
    """`<constant> AS name` bindings (`WITH 3000000*1000 AS n`), in query order."""
    found: dict[str, Num] = {}
    for i in range(1, len(toks) - 1):
        if toks[i].word != "AS" or toks[i + 1].kind != "name":
            continue
        j, level = i, 0  # walk back over the expression, to the clause keyword or separator before it
        while j > 0:
            t = toks[j - 1]
            if t.text in (")", "]", "}"):
                level += 1
            elif t.text in ("(", "[", "{"):
                if level == 0:
                    break
                level -= 1
            elif level == 0 and (t.text == "," or t.word in CLAUSES or t.word == "DISTINCT"):
                break
            j -= 1
        v = constant(toks[j:i], params, found)
        if v is not None:
            found[toks[i + 1].text] = v
    return found


def check_ranges(text: str, params: Mapping[str, Any], max_range: int) -> None:
    toks = list(tokens(text))
    aliases = _aliases(toks, params)
    for i, tok in enumerate(toks[:-1]):
        if tok.word != "RANGE" or toks[i + 1].text != "(" or (i and toks[i - 1].text == "."):
            continue
        values = [constant(a, params, aliases) for a in _arguments(toks, i + 1)]
        if len(values) not in (2, 3) or any(v is None for v in values):
            continue
        start, end = values[0], values[1]
        step = values[2] if len(values) == 3 else 1
        if not step:
            continue
        count = max(0, math.floor((end - start) / step) + 1)  # type: ignore[operator]  # all known numbers here
        if count > max_range:
            raise QueryRefused(
                f"query refused: range() of {count:,} elements, the limit is {max_range:,} (INTENTKB_QUERY_MAX_RANGE): "
                "the engine allocates a range whole, and one too large kills the server"
            )


def bound_ranges(text: str, max_range: int, max_chars: int = 200_000) -> str:
    """`text` with every range() whose size is not known before running made to fail past
    `max_range` elements instead of allocating them (FalkorDB builds a range whole: a bound from
    the data, `range(1, c*10000000)`, made it abort). `range(a, b, s)` becomes
    `[r IN [[a, b, s]] | range(r[0], r[1], CASE WHEN <size> > max_range THEN 0 ELSE r[2] END)][0]`:
    the bounds are evaluated once (a `rand()` bound passed the test and was drawn again) and the
    size is computed in floats (`b - a` in 64-bit integers overflowed past the test); a zero step
    is the engine's own clear error, which the store turns into this limit. The innermost range is
    bounded first, so the bounds of an outer one hold the bounded inner text. Ranges with constant
    bounds are checked before sending (check_ranges) and left as they are."""
    guard = f"> {max_range} THEN 0 ELSE"
    n = 0
    while True:
        toks = list(tokens(text))
        last = None
        for i, tok in enumerate(toks[:-1]):
            if tok.word != "RANGE" or toks[i + 1].text != "(" or (i and toks[i - 1].text == "."):
                continue
            args = _arguments(toks, i + 1)
            if len(args) not in (2, 3) or not all(args) or all(constant(a, {}, {}) is not None for a in args):
                continue
            if len(args) == 3 and guard in text[args[2][0].pos : args[2][-1].pos + len(args[2][-1].text)]:
                continue  # bounded already
            close = _closing(toks, i + 1)
            if close is None:
                continue
            last = (tok.pos, toks[close].pos + 1, [text[x[0].pos : x[-1].pos + len(x[-1].text)] for x in args])
        if last is None:
            return text
        start, end, bounds = last
        r = f"intentkb_range_{n}"
        n += 1
        size = f"(toFloat({r}[1]) - toFloat({r}[0])) / toFloat({r}[2])" if len(bounds) == 3 else f"toFloat({r}[1]) - toFloat({r}[0])"
        step = f"{r}[2]" if len(bounds) == 3 else "1"
        bounded = f"[{r} IN [[{', '.join(bounds)}]] | range({r}[0], {r}[1], CASE WHEN {size} {guard} {step} END)][0]"
        text = text[:start] + bounded + text[end:]
        if len(text) > max_chars:
            raise QueryRefused(f"query refused: too many range() calls inside one another to bound ({max_chars:,} characters once bounded)")
