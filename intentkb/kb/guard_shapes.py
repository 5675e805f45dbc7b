"""The query shapes that stall FalkorDB's parser or planner, as generators of size n: what the
guard has to bound. The tests and bench/hostile.py run the largest query of each shape the guard
accepts against the engine, so a change to the guard's limits is measured, not assumed."""

from __future__ import annotations

from collections.abc import Callable

from .guard import QueryLimits, QueryRefused, check_query_text

Shape = Callable[[int], str]

SHAPES: dict[str, Shape] = {
    "NOT chain": lambda n: "RETURN " + "NOT " * n + "true AS x",
    "unary minus": lambda n: "RETURN " + "-" * n + "1 AS x",
    "unary plus": lambda n: "RETURN " + "+ " * n + "1 AS x",
    "brackets": lambda n: "RETURN " + "(" * n + "1" + ")" * n + " AS x",
    "lists": lambda n: "RETURN " + "[" * n + "1" + "]" * n + " AS x",
    "maps": lambda n: "RETURN " + "{a:" * n + "1" + "}" * n + " AS x",
    "CASE": lambda n: "RETURN " + "CASE 1 WHEN 1 THEN " * n + "1" + " END" * n + " AS x",
    "NOT then a comparison": lambda n: "RETURN " + "NOT " * 6 + "true = " + "(" * n + "true" + ")" * n + " AS x",
    "NOT then a flat tail": lambda n: "RETURN " + "NOT " * 12 + "true" + " = true" * n + " AS x",
    "NOT (…)": lambda n: "RETURN " + "NOT (" * n + "true" + ")" * n + " AS x",
    "list comprehension": lambda n: "RETURN " + "[x IN " * n + "[1]" + " | 1]" * n + " AS x",
    "function calls": lambda n: "RETURN " + "abs(" * n + "1" + ")" * n + " AS x",
    "depth-10 expressions": lambda n: "RETURN " + ", ".join("(" * 10 + "1" + ")" * 10 + f" AS x{i}" for i in range(n)),
    "wide list at depth 8": lambda n: "RETURN " + "[" * 8 + ",".join(["1"] * n) + "]" * 8 + " AS x",
    "flat list": lambda n: "RETURN [" + ",".join(["1"] * n) + "] AS x",
    "pattern hops": lambda n: "MATCH p=()" + "-[]-()" * n + " RETURN count(p) AS x",
    "clauses": lambda n: " ".join(f"OPTIONAL MATCH (a{i}:Nope)" for i in range(n)) + " RETURN 1 AS x",
    "OR chain": lambda n: "RETURN " + " OR ".join(["true"] * n) + " AS x",
}


def accepted(text: str, limits: QueryLimits) -> bool:
    try:
        check_query_text(text, limits)
        return True
    except QueryRefused:
        return False


def largest_accepted(shape: Shape, limits: QueryLimits, ceiling: int = 1 << 17) -> int:
    """The largest n whose query the guard accepts (0: none), by doubling then bisection."""
    lo, hi = 0, 1
    while hi < ceiling and accepted(shape(hi), limits):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if accepted(shape(mid), limits) else (lo, mid)
    return lo
