"""`intentkb show session ID --html FILE`: one session's intention tree as a self-contained page.

Products run along the top, one column per step; the tree grows below them, each hypothesis a box
in its step's column, leaves stacked in depth-first order and each parent centred on its children.
Hovering a box shows its intention, valued attribute, rationale and comparison in a side panel and
highlights its path from the root (every box also carries them as an SVG <title> tooltip, so the
page reads without JavaScript). No external assets: it opens offline and can be attached to a report.
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

COL_W, BOX_W, BOX_H, ROW_H, TOP = 260, 220, 40, 52, 120


def _layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """(x, y) of every node: x by step, y by depth-first leaf order with parents centred."""
    pos: dict[str, tuple[float, float]] = {}
    next_row = 0

    def place(n: str) -> float:
        nonlocal next_row
        kids = sorted(g.successors(n), key=lambda k: k)
        if not kids:
            y = float(next_row)
            next_row += 1
        else:
            ys = [place(k) for k in kids]
            y = (ys[0] + ys[-1]) / 2
        pos[n] = ((g.nodes[n]["step"] - 1) * COL_W + 20, TOP + y * ROW_H)
        return y

    for root in sorted(n for n in g.nodes if g.in_degree(n) == 0):
        place(root)
    return pos


def _short(text: str | None, n: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def session_html(store: GraphStore, session: str) -> str:
    g = session_tree(store, session)
    if g.number_of_nodes() == 0:
        raise IntentKBError(f"session {session!r} has no intention tree in the graph")
    products = store.run("session_products", {"session": session})
    pos = _layout(g)
    steps = max(d["step"] for _, d in g.nodes(data=True))
    width = max(steps, len(products)) * COL_W + 40
    height = max(y for _, y in pos.values()) + BOX_H + 40
    data: dict[str, Any] = {}
    parts: list[str] = []
    for i, p in enumerate(products):
        x = i * COL_W + 20
        label = html.escape(_short(p["title"] or p["id"], 60))
        parts.append(
            f'<g class="product" data-pos="{p["pos"]}"><rect x="{x}" y="10" width="{BOX_W}" height="70" rx="6"/>'
            f"<title>{html.escape(p['title'] or p['id'])} ({html.escape(p['id'])})</title>"
            f'<foreignObject x="{x + 6}" y="14" width="{BOX_W - 12}" height="62"><div class="ptext">'
            f"<b>P{i + 1}</b> {label}</div></foreignObject></g>"
        )
    for u, v in g.edges:
        (x1, y1), (x2, y2) = pos[u], pos[v]
        parts.append(
            f'<path class="edge" data-from="{html.escape(u)}" data-to="{html.escape(v)}" '
            f'd="M{x1 + BOX_W},{y1 + BOX_H / 2} C{x1 + BOX_W + 20},{y1 + BOX_H / 2} {x2 - 20},{y2 + BOX_H / 2} {x2},{y2 + BOX_H / 2}"/>'
        )
    for n, d in sorted(g.nodes(data=True), key=lambda kv: (kv[1]["step"], kv[0])):
        x, y = pos[n]
        attribute = f"{d['attribute_name']}: {d['attribute_value']}" if d.get("attribute_name") else None
        comparison = f"[{d['comparison_aspect']}] {d['comparison']}" if d.get("comparison") else None
        parent = next(iter(g.predecessors(n)), None)
        data[n] = {
            "step": d["step"],
            "text": d["text"],
            "attribute": attribute,
            "rationale": d.get("rationale"),
            "comparison": comparison,
            "product": d.get("product"),
            "parent": parent,
        }
        tip = "\n".join(
            x
            for x in [
                f"I{d['step']}: {d['text']}",
                attribute and f"values: {attribute}",
                d.get("rationale") and f"rationale: {d['rationale']}",
                comparison and f"comparison: {comparison}",
            ]
            if x
        )
        parts.append(
            f'<g class="node" data-id="{html.escape(n)}" data-step="{d["step"]}">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5"/>'
            f"<title>{html.escape(tip)}</title>"
            f'<text x="{x + 8}" y="{y + 25}">{html.escape(_short(d["text"], 34))}</text></g>'
        )
    problems = check_tree(g)
    profile = ", ".join(f"step {k}: {v}" for k, v in tree_profile(g).items())
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return _PAGE.format(
        title=html.escape(f"intentkb session {session}"),
        session=html.escape(session),
        nodes=g.number_of_nodes(),
        leaves=sum(1 for n in g.nodes if g.out_degree(n) == 0),
        profile=html.escape(profile),
        shape="tree shape ok" if not problems else html.escape("; ".join(problems)),
        width=int(width),
        height=int(height),
        svg="\n".join(parts),
        data=payload,
    )


def write_session_html(store: GraphStore, session: str, path: Path) -> Path:
    check_output(path, directory=False)
    path.write_text(session_html(store, session), encoding="utf-8")
    return path


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 0; display: flex; height: 100vh; }}
#tree {{ flex: 1; overflow: auto; }}
#panel {{ width: 340px; border-left: 1px solid #ccc; padding: 12px; overflow: auto; background: #fafafa; }}
.product rect {{ fill: #eef4ff; stroke: #5b7fc7; }}
.ptext {{ font-size: 12px; line-height: 1.25; overflow: hidden; height: 60px; }}
.node rect {{ fill: #fff; stroke: #888; }}
.node text {{ font-size: 12px; pointer-events: none; }}
.node:hover rect, .node.on rect {{ fill: #fff3c4; stroke: #c79a00; stroke-width: 2; }}
.edge {{ fill: none; stroke: #aaa; }}
.edge.on {{ stroke: #c79a00; stroke-width: 2.5; }}
dt {{ font-weight: 600; margin-top: 8px; }} dd {{ margin: 2px 0 0 0; }}
</style></head>
<body>
<div id="tree"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">
{svg}
</svg></div>
<div id="panel"><h3>Session {session}</h3>
<p>{nodes} intentions, {leaves} trajectories ({profile}); {shape}.</p>
<p>Hover a box to see the intention; its path from the root is highlighted.</p>
<dl id="detail"></dl></div>
<script type="application/json" id="tree-data">{data}</script>
<script>
const data = JSON.parse(document.getElementById("tree-data").textContent);
const detail = document.getElementById("detail");
function clear() {{ document.querySelectorAll(".on").forEach(e => e.classList.remove("on")); }}
function show(id) {{
  clear();
  const d = data[id];
  let n = id;
  while (n) {{
    const box = document.querySelector('.node[data-id="' + n + '"]');
    if (box) box.classList.add("on");
    const p = data[n].parent;
    if (p) {{ const e = document.querySelector('.edge[data-from="' + p + '"][data-to="' + n + '"]'); if (e) e.classList.add("on"); }}
    n = p;
  }}
  detail.replaceChildren();
  for (const [k, v] of [["Step", d.step], ["Intention", d.text], ["Valued attribute", d.attribute],
                        ["Rationale", d.rationale], ["Comparison", d.comparison], ["Product", d.product]]) {{
    if (v === null || v === undefined) continue;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    detail.append(dt, dd);
  }}
}}
document.querySelectorAll(".node").forEach(g => g.addEventListener("mouseenter", () => show(g.dataset.id)));
</script>
</body></html>
"""
