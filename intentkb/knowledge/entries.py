"""The graph's intention knowledge as entries of training data, one kind at a time, streamed.

An entry is what one training document is made of: a co-bought pair with its intentions, a product
with its purchase intentions, a session trajectory, a script with its steps' products. Each entry
carries the graph nodes it is made of (`nodes`, for `--exclude`), the split group the task
builders give the same things (`group`: the pair "a|b" as IntentionQA's, the session as
SessionIntentBench's, the script as EcomScriptBench's; none for a product), the plain-text
document (`tasks export`'s `pt` stage) and its instruction pairs (alpaca / sharegpt).

Instruction pairs, one per link:
- cobuy: the pair and a relation -> the intention (one per accepted intention);
- purchase: the product -> a purchase intention (one per intention);
- session: the session so far (products viewed, intentions up to the step before) and the product
  viewed next -> the intention at that step (one per tree node, written with the first trajectory
  that reaches it);
- script: a step of a goal -> the product its alignment serves best (one per aligned step).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..kb.queries import keyset_pages
from ..kb.store import GraphStore, Row
from ..kb.texts import strip_boilerplate

KINDS: tuple[str, ...] = ("cobuy", "purchase", "session", "script")
PAGE = 200
SERVING = 3  # products a script document names per step


@dataclass
class Instruction:
    instruction: str
    output: str
    intention: str | None  # the intention the output states (None: a product)


@dataclass
class Entry:
    kind: str
    id: str
    group: str | None
    nodes: list[str]
    intentions: list[str]  # the intentions the document states, in order
    document: str
    instructions: list[Instruction] = field(default_factory=list)


def kept(intention: Row | dict[str, Any], include_rejected: bool) -> bool:
    """The role-aware filter's verdict: rejected (`accepted` false) is left out; unfiltered kept."""
    return include_rejected or intention.get("accepted") is not False


def _sentence(text: str) -> str:
    text = " ".join(strip_boilerplate(text or "").split())
    return (text[:1].upper() + text[1:]) if text else ""


_PERSON = re.compile(r"^PersonX bought a product of Item A and a product of Item B because\s+", re.I)


def assertion_sentence(assertion: str | None, a: str, b: str) -> str:
    """FolkScope's "PersonX bought a product of Item A and a product of Item B because …" as a
    sentence about the two products."""
    if not assertion:
        return ""
    m = _PERSON.match(assertion.strip())
    if not m:
        return _sentence(assertion)
    return f"A customer bought {a} and {b} because {assertion.strip()[m.end() :]}"


def cobuy_entries(store: GraphStore, include_rejected: bool = False) -> Iterator[Entry]:
    for rows in keyset_pages(store, "knowledge_cobuy_pairs_page", PAGE, keys=("a", "b")):
        for r in rows:
            intentions = [i for i in r["intentions"] if kept(i, include_rejected) and i.get("text")]
            if not intentions:
                continue
            ta, tb = r["a_title"] or r["a"], r["b_title"] or r["b"]
            lines = [f"{ta} and {tb} are bought together."]
            instructions = []
            for i in intentions:
                # the intention names the products in its own roles: "product A" is its role-a product
                first, second = (ta, tb) if i.get("a_role", "a") == "a" else (tb, ta)
                said = _sentence(i["text"])
                lines.append(f"Why they are bought together ({i['relation']}): {said}")
                because = assertion_sentence(i.get("assertion"), first, second)
                if because:
                    lines.append(because)
                instructions.append(
                    Instruction(
                        f"A customer bought these two products together:\n- {first}\n- {second}\n"
                        f'What is their co-buy intention under the relation "{i["relation"]}"?',
                        said,
                        i["id"],
                    )
                )
            yield Entry(
                "cobuy",
                f"cobuy:{r['a']}|{r['b']}",
                "|".join(sorted((r["a"], r["b"]))),
                [r["a"], r["b"], *(i["id"] for i in intentions)],
                [i["id"] for i in intentions],
                "\n".join(lines),
                instructions,
            )


def purchase_entries(store: GraphStore, include_rejected: bool = False) -> Iterator[Entry]:
    for rows in keyset_pages(store, "knowledge_purchase_page", PAGE):
        for r in rows:
            intentions = [i for i in r["intentions"] if kept(i, include_rejected) and i.get("text")]
            if not intentions:
                continue
            title = r["title"] or r["id"]
            head = f"{title}" + (f" ({r['category']})" if r.get("category") else "") + ": why customers buy it."
            lines = [head, *(_sentence(i["text"]) for i in intentions)]
            instructions = [Instruction(f"Why would a customer buy this product?\n{title}", _sentence(i["text"]), i["id"]) for i in intentions]
            yield Entry(
                "purchase",
                f"purchase:{r['id']}",
                None,
                [r["id"], *(i["id"] for i in intentions)],
                [i["id"] for i in intentions],
                "\n".join(lines),
                instructions,
            )


def session_entries(store: GraphStore, include_rejected: bool = False) -> Iterator[Entry]:
    from ..kb.queries import iter_session_ids

    for sid in iter_session_ids(store):
        asked: set[str] = set()  # a tree node's instruction goes with the first trajectory through it
        for t in store.run("trajectory_details", {"session": sid}):
            steps = [s for s in t["steps"] if s.get("text")]
            if not steps or not all(kept(s, include_rejected) for s in steps):
                continue
            lines = [f"A shopper's session, step by step ({sid}):"]
            instructions = []
            for k, s in enumerate(steps):
                product = s.get("product_title") or s.get("product") or "a product"
                lines.append(f"{s['step']}. Viewed {product}. Intention: {_sentence(s['text'])}")
                if s["id"] in asked:
                    continue
                asked.add(s["id"])
                seen = "\n".join(f"{j + 1}. {p.get('product_title') or p.get('product')} (intention: {_sentence(p['text'])})" for j, p in enumerate(steps[:k]))
                prompt = "A shopper has viewed, in this order:\n" + seen + "\n" if seen else "A shopper starts a session.\n"
                instructions.append(Instruction(prompt + f"Next they view {product}. What is their intention now?", _sentence(s["text"]), s["id"]))
            products = list(dict.fromkeys(s["product"] for s in steps if s.get("product")))
            yield Entry(
                "session", f"session:{t['leaf']}", sid, [sid, *products, *(s["id"] for s in steps)], [s["id"] for s in steps], "\n".join(lines), instructions
            )


def script_entries(store: GraphStore, include_rejected: bool = False) -> Iterator[Entry]:
    for rows in keyset_pages(store, "task_esb_scripts_page", PAGE):
        best: dict[str, list[dict[str, Any]]] = {}
        for r in store.run("knowledge_script_steps", {"scripts": [s["id"] for s in rows]}):
            first: dict[str, dict[str, Any]] = {}  # a product once, by its best path
            for p in r["products"]:
                if kept(p, include_rejected):
                    first.setdefault(p["product"], p)
            best[r["step"]] = list(first.values())[:SERVING]
        for c in rows:
            steps = [s for s in c["steps"] if best.get(s["id"])]
            if not steps:
                continue
            goal = c.get("specific_goal") or c.get("objective") or c["id"]
            lines = [f"How to {goal[:1].lower() + goal[1:]}, and what to buy for it:"]
            instructions, nodes = [], [c["id"]]
            for s in c["steps"]:
                serving = best.get(s["id"]) or []
                names = "; ".join(p["title"] or p["product"] for p in serving)
                lines.append(f"{s['idx']}. {s['text']}" + (f" Products that serve it: {names}." if names else ""))
                if serving:
                    top = serving[0]
                    nodes += [s["id"], *(p["product"] for p in serving), *(p["intention"] for p in serving)]
                    instructions.append(Instruction(f"Goal: {goal}\nStep: {s['text']}\nWhich product serves this step?", top["title"] or top["product"], None))
            yield Entry("script", f"script:{c['id']}", c["id"], list(dict.fromkeys(nodes)), [], "\n".join(lines), instructions)


SOURCES = {"cobuy": cobuy_entries, "purchase": purchase_entries, "session": session_entries, "script": script_entries}
