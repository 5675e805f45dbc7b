"""The one check every query text and parameter set from outside passes before it reaches a store.

Measured on the embedded FalkorDB server (bench/hostile.py): its parser takes time exponential in
expression nesting, and not only in brackets: each enclosing bracket, CASE, list comprehension or
prefix operator (`NOT`, unary `-`/`+`) doubles the parse time of everything inside it (`NOT` x 21:
7.7 s; NOT's operand runs on through comparisons, so `NOT x12 true = ((…))` counts both), while flat chains (`a OR b OR …`, `1 + 1 + …`) cost linear time. The time of a query is
close to the sum over its tokens of 2^depth. The query TIMEOUT does not cover parsing, so a
stuck parse holds one of the server's threads for ever. So the query is tokenised (kb/cypher_lexer)
and its nesting depth, its summed cost, and the few shapes whose planning is polynomial (long
patterns, many clauses, subscript chains) are bounded here, before sending.

Some expressions allocate at once whatever their arguments ask for and make the server abort
(`range(1, 3000000000)`: "Out Of Memory allocating 48000000012 bytes"), before QUERY_MEM_CAPACITY
applies: a `range()` whose bounds are literals, parameters or `literal AS name` aliases is bounded
here; what cannot be known before running is left to the supervisor (kb/falkordb/supervisor.py),
which restarts a server that died or holds a query past its deadline.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from ..config import Settings
from ..errors import QueryRefused, StoreError
from .cypher_lexer import CLAUSES, Token, int_literal, is_operand_end, tokens
from .eager import check_ranges

INT64_MAX = 2**63 - 1
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")  # a lone surrogate cannot be encoded; a NUL ends FalkorDB's query string

_UNSENDABLE_WHY = "holds a NUL character or is not valid Unicode (a lone surrogate, U+D800 to U+DFFF)"


def unsendable(text: str) -> bool:
    """True for text that holds a NUL or a lone surrogate (`_UNSENDABLE`)."""
    return _UNSENDABLE.search(text) is not None


def need_text(text: str) -> str:
    """A text from outside that is embedded and searched for (a need, a step): stripped, with
    something to read in it, and sendable (`_UNSENDABLE`: a lone surrogate cannot be hashed into
    the embedding cache, a NUL cannot reach the engine)."""
    if _UNSENDABLE.search(text):
        raise QueryRefused(f"retrieve: the text {_UNSENDABLE_WHY}")
    text = text.strip()
    if not any(c.isprintable() and not c.isspace() for c in text):
        raise QueryRefused("retrieve: empty text")
    return text


class QueryLimits(BaseModel):
    """What a query from outside may ask of the engine. Each figure is in `bench/hostile.py`."""

    max_chars: int = Field(default=100_000, ge=1, le=10_000_000, description="Characters of query text (INTENTKB_QUERY_MAX_CHARS)")
    max_nesting: int = Field(default=12, ge=1, le=24, description="Expression depth: brackets, CASE, prefix operators (INTENTKB_QUERY_MAX_NESTING)")
    max_cost: int = Field(default=1 << 17, ge=1, description="Sum over tokens of 2^depth: the parse-time estimate (INTENTKB_QUERY_MAX_COST)")
    max_range: int = Field(default=10_000_000, ge=1, description="Elements of one range() with known bounds (INTENTKB_QUERY_MAX_RANGE)")
    max_param_bytes: int = Field(default=1_000_000, ge=1, description="Encoded size of all parameters together (INTENTKB_QUERY_MAX_PARAM_BYTES)")
    max_clauses: int = 256
    max_hops: int = 128
    max_subscripts: int = 512

    @classmethod
    def of(cls, settings: Settings) -> QueryLimits:
        return cls(
            max_chars=settings.query_max_chars,
            max_nesting=settings.query_max_nesting,
            max_cost=settings.query_max_cost,
            max_range=settings.query_max_range,
            max_param_bytes=settings.query_max_param_bytes,
        )


class ResultCaps(BaseModel):
    """How much an outside query may return: past either, the caller gets an error, not a part."""

    max_rows: int = Field(default=1_000_000, ge=1, description="Rows (INTENTKB_QUERY_MAX_ROWS)")
    max_bytes: int = Field(default=64 << 20, ge=1, description="Bytes of the reply (INTENTKB_QUERY_MAX_RESULT_BYTES): ~10x that in Python objects")

    @classmethod
    def of(cls, settings: Settings) -> ResultCaps:
        return cls(max_rows=settings.query_max_rows, max_bytes=settings.query_max_result_bytes)

    def check_rows(self, n: int) -> None:
        if n > self.max_rows:
            raise ResultTooLarge(f"result refused: {n:,} rows, the limit is {self.max_rows:,}: add LIMIT, or page with SKIP/LIMIT or a key")


class ResultTooLarge(StoreError):
    """A result past its row or byte cap; nothing of it is returned."""


@dataclass
class QueryShape:
    """What the guard measured of a query text (bench/hostile.py prints it)."""

    tokens: int = 0
    depth: int = 0
    cost: int = 0
    clauses: int = 0
    hops: int = 0
    subscripts: int = 0


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_SIGN_ENDERS = frozenset(["AND", "OR", "XOR", "AS", "WHEN", "THEN", "ELSE", "END", "IN", "IS", "STARTS", "ENDS", "CONTAINS"]) | CLAUSES
_NOT_ENDERS = frozenset(["AND", "OR", "XOR", "AS", "WHEN", "THEN", "ELSE", "END"]) | CLAUSES
_CASE_WEIGHT = 1  # a CASE level parses about as slowly as a bracket level (measured)


def measure(text: str, limits: QueryLimits | None = None) -> QueryShape:
    """The shape of `text`; with `limits`, stops and raises QueryRefused at the first one passed
    (so a 100,000-character bomb is refused after reading only as far as it needs)."""
    shape = QueryShape()
    # frames: ("(", weight) for brackets, ("CASE", 2), ("-", 1) for a prefix operator's operand
    frames: list[tuple[str, int]] = []
    depth = 0
    prev: Token | None = None
    toks = list(tokens(text))
    for i, tok in enumerate(toks):
        shape.tokens += 1
        t = tok.text
        word = tok.word if _keyword_position(prev, toks[i + 1] if i + 1 < len(toks) else None, frames) else ""
        if tok.kind == "punct" and t in _CLOSERS:
            want = _CLOSERS[t]
            if any(f[0] == want for f in frames):
                while frames:
                    kind, w = frames.pop()
                    depth -= w
                    if kind == want:
                        break
        elif word == "END" and _case_open(frames):
            while frames and frames[-1][0] not in _OPENERS:
                kind, w = frames.pop()
                depth -= w
                if kind == "CASE":
                    break
        negation = word == "NOT" and (prev is None or prev.word != "IS")
        sign = t in ("-", "+") and tok.kind == "punct" and not is_operand_end(prev)
        if not (negation or sign) and not (tok.kind == "punct" and t in _OPENERS):
            # A sign's operand ends at the next binary operator; NOT's runs on through comparisons
            # and arithmetic to the next AND/OR/XOR or separator (measured: NOT x12 then `= ((…))`
            # parses as deep as both together, `-` x12 then `+ ((…))` does not).
            ends_not = _ends_negation(tok, word)
            ends_sign = _ends_operand_chain(tok, word)
            while frames and ((frames[-1][0] == "-" and ends_sign) or (frames[-1][0] == "NOT" and ends_not)):
                frames.pop()
                depth -= 1
        shape.cost += 1 << min(depth, 62)
        shape.depth = max(shape.depth, depth)
        if word in CLAUSES:
            shape.clauses += 1
        if prev is not None and prev.text == ")" and t in ("-", "<-", "<"):
            shape.hops += 1
        if prev is not None and prev.text == "]" and t == "[":
            shape.subscripts += 1
        if tok.kind == "number":
            _checkint_literal(tok, prev)
        if tok.kind == "punct" and t in _OPENERS:
            frames.append((t, 1))
            depth += 1
        elif word == "CASE":
            frames.append(("CASE", _CASE_WEIGHT))
            depth += _CASE_WEIGHT
        elif negation or sign:
            frames.append(("NOT" if negation else "-", 1))
            depth += 1
        if limits is not None and (depth > limits.max_nesting or shape.cost > limits.max_cost):
            shape.depth = max(shape.depth, depth)
            _refuse_shape(shape, limits)
        prev = tok
    if limits is not None:
        _refuse_shape(shape, limits)
    return shape


def _keyword_position(prev: Token | None, nxt: Token | None, frames: list[tuple[str, int]]) -> bool:
    """Can the name token between `prev` and `nxt` be a keyword here? Not a property (`m.end`), a
    label or relationship type (`n:End`, `[:CASE]`), nor a map key (`{end: 1}`): taken for `END`, a
    property named `end` closed every CASE and NOT before it and switched the depth count off."""
    if prev is not None and prev.text == ".":
        return False
    in_map = _innermost_bracket(frames) == "{"
    if prev is not None and prev.text == ":" and not in_map:
        return False
    return not (nxt is not None and nxt.text == ":" and in_map)


def _innermost_bracket(frames: list[tuple[str, int]]) -> str:
    for kind, _ in reversed(frames):
        if kind in _OPENERS:
            return kind
    return ""


def _case_open(frames: list[tuple[str, int]]) -> bool:
    """Is a CASE open inside the innermost bracket (so an END can close it)?"""
    for kind, _ in reversed(frames):
        if kind == "CASE":
            return True
        if kind in _OPENERS:
            return False
    return False


def _ends_operand_chain(tok: Token, word: str) -> bool:
    """Binary operators, separators and keywords end the operand of a sign before them."""
    if tok.kind == "op":
        return True
    if tok.kind == "punct":
        return tok.text not in (".", "$")
    return word in _SIGN_ENDERS


def _ends_negation(tok: Token, word: str) -> bool:
    """Only boolean connectives, separators and keywords end the operand of NOT."""
    if tok.kind == "punct":
        return tok.text in (",", "|", ";")
    return word in _NOT_ENDERS


def _checkint_literal(tok: Token, prev: Token | None) -> None:
    value = int_literal(tok.text)
    if value is None:
        return
    negative = prev is not None and prev.text == "-" and not is_operand_end(prev)
    if value > INT64_MAX + (1 if negative else 0):
        raise QueryRefused(f"query refused: the integer {tok.text} does not fit in 64 bits (the engine would silently clamp it)")


def _refuse_shape(shape: QueryShape, limits: QueryLimits) -> None:
    why = "deeper nesting would stall the embedded server's parser, which no timeout stops"
    if shape.depth > limits.max_nesting:
        raise QueryRefused(
            f"query refused: expressions nested {shape.depth} deep (brackets, CASE, NOT and signs count), "
            f"the limit is {limits.max_nesting} (INTENTKB_QUERY_MAX_NESTING): {why}"
        )
    if shape.cost > limits.max_cost:
        raise QueryRefused(
            f"query refused: its parse cost is {shape.cost:,} (tokens weighted 2^depth), the limit is {limits.max_cost:,} "
            f"(INTENTKB_QUERY_MAX_COST): flatten nested expressions or pass values as parameters"
        )
    for what, got, cap in (("clauses", shape.clauses, limits.max_clauses), ("pattern hops", shape.hops, limits.max_hops)):
        if got > cap:
            raise QueryRefused(f"query refused: {got} {what}, the limit is {cap} (planning time grows faster than their number)")
    if shape.subscripts > limits.max_subscripts:
        raise QueryRefused(f"query refused: {shape.subscripts} chained subscripts, the limit is {limits.max_subscripts}")


def check_query_text(text: str, limits: QueryLimits | None = None, params: Mapping[str, Any] | None = None) -> QueryShape:
    """Refuse `text` (QueryRefused, nothing sent) when it passes any of `limits`."""
    limits = limits or QueryLimits()
    if len(text) > limits.max_chars:
        raise QueryRefused(f"query refused: {len(text):,} characters, the limit is {limits.max_chars:,} (INTENTKB_QUERY_MAX_CHARS)")
    if _UNSENDABLE.search(text):
        raise QueryRefused(f"query refused: its text {_UNSENDABLE_WHY}")
    check_reach(text)
    shape = measure(text, limits)
    if "range" in text.lower():
        check_ranges(text, params or {}, limits.max_range)
    return shape


# Clauses and procedures that reach past the graph: files and URLs the engine can open (LOAD CSV,
# APOC's loaders), its configuration and its other databases. A read-only transaction allows them
# (Neo4j served `LOAD CSV FROM 'file:///…'` to `/cypher`), so a query from outside may not name them.
_OUTSIDE_PROCEDURES = ("DBMS.", "APOC.LOAD.", "APOC.IMPORT.", "APOC.EXPORT.", "APOC.CYPHER.", "APOC.SYSTEMDB.", "GDS.")


def check_reach(text: str) -> None:
    toks = [t for t in tokens(text) if t.kind in ("name", "quoted", "punct", "op")]
    for i, t in enumerate(toks):
        if t.word == "LOAD" and i + 1 < len(toks) and toks[i + 1].word == "CSV":
            raise QueryRefused("query refused: LOAD CSV reads files and URLs outside the graph")
        if t.word == "CALL":
            name = ""
            for nxt in toks[i + 1 :]:
                if nxt.kind in ("name", "quoted") or nxt.text == ".":
                    name += nxt.text.strip("`")
                else:
                    break
            if name.upper().startswith(_OUTSIDE_PROCEDURES):
                raise QueryRefused(f"query refused: {name} reaches outside the graph (configuration, files, other databases)")


# -- parameters -----------------------------------------------------------------------------------


def check_params(params: Mapping[str, Any], *, max_depth: int = 64, max_bytes: int | None = None) -> None:
    """Names are identifiers, values are JSON-like, nested at most `max_depth`, map keys are
    non-empty text without a backtick (no engine's parameter syntax can carry one), numbers finite,
    integers within 64 bits; with `max_bytes`, their encoded size is bounded too."""
    size = 0
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise QueryRefused(f"parameter name {name!r} is not an identifier (letters A-Z, digits, _)")
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            v, d = stack.pop()
            if d > max_depth:
                raise QueryRefused(f"parameter ${name}: nested more than {max_depth} deep")
            if isinstance(v, str):
                if _UNSENDABLE.search(v):
                    raise QueryRefused(f"parameter ${name}: its text {_UNSENDABLE_WHY}")
                size += len(v) + 2
            elif isinstance(v, Mapping):
                for k, x in v.items():
                    if not isinstance(k, str) or not k or "`" in k or _UNSENDABLE.search(k):
                        raise QueryRefused(f"parameter ${name}: map key {k!a} cannot be sent (empty, not text, a backtick, a NUL or a lone surrogate)")
                    size += len(k) + 3
                    stack.append((x, d + 1))
            elif isinstance(v, (list, tuple)):
                size += 2 + len(v)
                stack.extend((x, d + 1) for x in v)
            elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
                if not -INT64_MAX - 1 <= int(v) <= INT64_MAX:
                    raise QueryRefused(f"parameter ${name}: the integer {int(v)} does not fit in 64 bits (the engine would silently clamp it)")
                size += 8
            elif isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and not math.isfinite(v):
                raise QueryRefused(f"parameter ${name}: {v} is not a finite number")
            elif v is not None and not isinstance(v, (str, numbers.Real)):  # numpy scalars are Reals
                raise QueryRefused(f"parameter ${name}: a {type(v).__name__} cannot be sent")
            else:
                size += 8
            if max_bytes is not None and size > max_bytes:
                raise QueryRefused(f"parameters refused: more than {max_bytes:,} bytes encoded (INTENTKB_QUERY_MAX_PARAM_BYTES)")
