"""Synthetic line replies of the bundled reply formats, drawn from a generator seeded by the prompt
(same prompt, same reply). They stand in for a model in `--dry-run` (walking a whole tree to count
its calls), in the scripted OpenAI-compatible server of the tests and benchmarks, and nowhere else;
each format's `synthetic` calls its function here."""

from __future__ import annotations

import random
from typing import Any

_GOALS = [
    "stay comfortable on long walks",
    "set up a small home office",
    "cook healthier weeknight meals",
    "get ready for a camping trip",
    "find a thoughtful gift",
    "keep the house tidy with less effort",
    "train for a first 10k run",
    "upgrade an everyday carry kit",
    "decorate a rented flat",
    "travel light",
]
_ATTRS = [
    ("material", "breathable mesh"),
    ("color", "navy blue"),
    ("price", "under $30"),
    ("size", "medium"),
    ("brand", "Anker"),
    ("capacity", "2 litres"),
    ("weight", "350 g"),
    ("style", "minimalist"),
    ("battery", "12 hours"),
    ("fit", "relaxed"),
]
_FACETS = ["comfort", "durability", "value", "convenience", "style", "safety", "portability"]
_CATS = ["Home Storage", "Running Shoes", "Kitchen Tools", "Phone Accessories", "Outdoor Gear", "Desk Lamps"]


def _intention_blocks(r: random.Random, n: int, comparison: bool) -> str:
    out = []
    for i in range(n):
        goal = r.choice(_GOALS)
        name, value = r.choice(_ATTRS)
        facet = r.choice(_FACETS)
        lines = [
            f"New Intention: {goal.capitalize()}, hypothesis {i + 1} ({r.randrange(10**6)}).",
            f"Attribute: {name}: {value}.",
            f"Rationale: {facet}: A {value} {name} serves the wish to {goal}.",
        ]
        if comparison:
            lines.append(f"Comparison: {facet}: Unlike the previous product, this one offers a {value} {name}.")
        out.append("\n".join(lines))
    return "\n".join(out)


def attributes(r: random.Random, args: dict[str, Any]) -> str:
    picks = r.sample(_ATTRS, 4)
    return f"Category: {r.choice(_CATS)}\nAttributes: " + " | ".join(f"{a}: {v}" for a, v in picks)


def intentions(r: random.Random, args: dict[str, Any]) -> str:
    return _intention_blocks(r, int(args.get("n", 1)), bool(args.get("comparison", True)))


def cobuy_intention(r: random.Random, args: dict[str, Any]) -> str:
    return (
        f"The potential co-buy intention could be that they are both used to {r.choice(_GOALS)}; "
        f"together they cover {r.choice(_FACETS)} and {r.choice(_FACETS)} ({r.randrange(10**6)})."
    )


def verdict(r: random.Random, args: dict[str, Any]) -> str:
    yes = r.random() < 0.47  # MIND kept 46.7 %
    return ("Yes, " if yes else "No, ") + f"the intention {'does' if yes else 'does not'} give a reason to buy both ({r.choice(_FACETS)})."


def objectives(r: random.Random, args: dict[str, Any]) -> str:
    return "\n".join(
        f"Objective: {r.choice(_GOALS).capitalize()} {i + 1}\nSpecific Goal: Do it within a week ({r.randrange(10**6)})\n"
        f"Constraint: Spend less than ${r.randrange(20, 200)}"
        for i in range(int(args.get("n", 1)))
    )


def steps(r: random.Random, args: dict[str, Any]) -> str:
    k = r.randrange(4, 8)
    return "\n".join(
        f"Step {i + 1}: {verb} the {r.choice(_FACETS)} items for step {i + 1}."
        for i, verb in enumerate(r.choice(["Choose", "Buy", "Check", "Pack", "Set up"]) for _ in range(k))
    )


def choice(r: random.Random, args: dict[str, Any]) -> str:
    """A task answer: mostly a letter, sometimes (1 in 20) none."""
    letter = r.choice(list(args.get("letters") or "AB"))
    if r.random() < 0.05:
        return "I cannot decide from the information given."
    return f"The products and the stated intention point one way ({r.choice(_FACETS)}).\n{letter}" if args.get("cot") else letter


def purchase_intentions(r: random.Random, args: dict[str, Any]) -> str:
    return "\n".join(f"Intention {i + 1}: to {r.choice(_GOALS)} ({r.randrange(10**6)})" for i in range(int(args.get("n", 1))))


def free_text(r: random.Random, args: dict[str, Any]) -> str:
    return f"This product offers good {r.choice(_FACETS)} and {r.choice(_FACETS)}; customers use it to {r.choice(_GOALS)}. ({r.randrange(10**6)})"
