"""`intentkb show session ID --html FILE`: one session's intention tree as a self-contained page.

The products the session viewed head the columns, one column per step, with their titles. The tree
grows below them as nested boxes: every hypothesis shows its whole intention text (wrapped, never
cut), and each parent is centred on its children, so the layout follows the text's real height
instead of a fixed grid. Columns share the window's width, so the page fills it at any size; on a
narrow screen the detail panel moves below the tree.

Every box is a button: a click, a tap, or the keyboard (Tab, then the arrow keys: ← parent,
→ first child, ↑ ↓ siblings) shows its valued attribute, rationale, comparison and product in the
panel and highlights its path from the root. Each box also carries the same details as a tooltip,
so the page reads without JavaScript. No external assets: it opens offline and can be attached to
a report.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import IntentKBError
from ..io.paths import check_output
from ..kb.queries import check_tree, session_tree, tree_profile
from ..kb.store import GraphStore
from .session_page import PAGE


def _details(g: nx.DiGraph, n: str, titles: dict[str, str]) -> dict[str, Any]:
    d = g.nodes[n]
    product = d.get("product")
    return {
        "step": d["step"],
        "text": d["text"],
        "attribute": f"{d['attribute_name']}: {d['attribute_value']}" if d.get("attribute_name") else None,
        "rationale": d.get("rationale"),
        "comparison": f"[{d['comparison_aspect']}] {d['comparison']}" if d.get("comparison") else None,
        "product": product,
        "product_title": titles.get(product) if product else None,
        "parent": next(iter(g.predecessors(n)), None),
    }


def _tooltip(d: dict[str, Any]) -> str:
    lines = [
        f"I{d['step']}: {d['text']}",
        d["attribute"] and f"values: {d['attribute']}",
        d["rationale"] and f"rationale: {d['rationale']}",
        d["comparison"] and f"comparison: {d['comparison']}",
        d["product"] and f"at: {d['product_title'] or d['product']} ({d['product']})",
    ]
    return "\n".join(x for x in lines if x)


def _subtree(g: nx.DiGraph, n: str, data: dict[str, dict[str, Any]]) -> str:
    d = data[n]
    kids = sorted(g.successors(n))
    box = (
        f'<button type="button" class="node{" has-kids" if kids else ""}" data-id="{html.escape(n)}" data-step="{d["step"]}" '
        f'title="{html.escape(_tooltip(d))}"><span class="step">I{d["step"]}</span> <span class="text">{html.escape(d["text"])}</span></button>'
    )
    inner = "".join(_subtree(g, k, data) for k in kids)
    return f'<div class="sub">{box}' + (f'<div class="kids">{inner}</div>' if kids else "") + "</div>"


def session_html(store: GraphStore, session: str) -> str:
    g = session_tree(store, session)
    if g.number_of_nodes() == 0:
        raise IntentKBError(f"session {session!r} has no intention tree in the graph")
    products = store.run("session_products", {"session": session})
    titles = {p["id"]: p["title"] or p["id"] for p in products}
    data = {n: _details(g, n, titles) for n in g.nodes}
    steps = max(d["step"] for d in data.values())
    header = "".join(
        f'<div class="product" data-pos="{p["pos"]}" title="{html.escape(p["id"])}"><b>P{i + 1}</b> '
        f'<span class="ptitle">{html.escape(p["title"] or p["id"])}</span> <small>{html.escape(p["id"])}</small></div>'
        for i, p in enumerate(products)
    )
    roots = sorted(n for n in g.nodes if g.in_degree(n) == 0)
    problems = check_tree(g)
    profile = ", ".join(f"step {k}: {v}" for k, v in tree_profile(g).items())
    return PAGE.format(
        title=html.escape(f"intentkb session {session}"),
        session=html.escape(session),
        nodes=g.number_of_nodes(),
        leaves=sum(1 for n in g.nodes if g.out_degree(n) == 0),
        profile=html.escape(profile),
        shape="tree shape ok" if not problems else html.escape("; ".join(problems)),
        columns=max(steps, len(products)),
        products=header,
        forest="".join(_subtree(g, r, data) for r in roots),
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
    )


def write_session_html(store: GraphStore, session: str, path: Path) -> Path:
    check_output(path, directory=False)
    path.write_text(session_html(store, session), encoding="utf-8")
    return path
