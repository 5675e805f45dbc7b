"""The page around a session's tree: its styles (columns that share the window, connectors drawn in
CSS, the panel beside or below) and its script (details on click, tap, focus; arrow-key moves)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ --cols: {columns}; --panel: clamp(260px, 26vw, 420px); --gap: 28px; --half: 14px; --line: #b8b8b8;
        --col: max(180px, calc((100vw - var(--panel) - 40px) / var(--cols) - var(--gap))); }}
* {{ box-sizing: border-box; }}
html, body {{ height: 100%; margin: 0; }}
body {{ font: 14px/1.35 system-ui, sans-serif; display: flex; flex-direction: column; color: #222; }}
header {{ padding: 8px 16px; border-bottom: 1px solid #ddd; background: #f6f7f9; }}
header h1 {{ font-size: 16px; margin: 0 0 2px 0; }}
header p {{ margin: 0; color: #555; }}
main {{ flex: 1; display: flex; min-height: 0; }}
#tree {{ flex: 1; overflow: auto; padding: 12px 16px 24px 16px; }}
#panel {{ width: var(--panel); border-left: 1px solid #ddd; padding: 12px 16px; overflow: auto; background: #fafafa; }}
.products {{ display: flex; gap: var(--gap); margin-bottom: 14px; position: sticky; top: -12px; background: #fff; padding: 6px 0; z-index: 1; }}
.product {{ width: var(--col); flex: none; background: #eef4ff; border: 1px solid #5b7fc7; border-radius: 6px; padding: 6px 8px; font-size: 12.5px; }}
.product small {{ display: block; color: #667; }}
.sub {{ display: flex; align-items: center; }}
.kids {{ display: flex; flex-direction: column; }}
.kids > .sub {{ position: relative; padding-left: var(--half); }}
.kids > .sub::before {{ content: ""; position: absolute; left: 0; top: 50%; width: var(--half); border-top: 2px solid var(--line); }}
.kids > .sub::after {{ content: ""; position: absolute; left: 0; top: 0; bottom: 0; border-left: 2px solid var(--line); }}
.kids > .sub:first-child::after {{ top: 50%; }}
.kids > .sub:last-child::after {{ bottom: 50%; }}
.kids > .sub:only-child::after {{ display: none; }}
.node {{ width: var(--col); flex: none; margin: 4px var(--half) 4px 0; position: relative; text-align: left; font: inherit; font-size: 13px;
        background: #fff; border: 1px solid #999; border-radius: 6px; padding: 6px 8px; cursor: pointer; color: inherit;
        white-space: normal; overflow-wrap: anywhere; }}
.node.has-kids::after {{ content: ""; position: absolute; right: calc(-1 * var(--half) - 1px); top: 50%; width: var(--half); border-top: 2px solid var(--line); }}
.node .step {{ font-weight: 600; color: #777; margin-right: 2px; }}
.node:hover {{ border-color: #c79a00; }}
.node:focus-visible {{ outline: 3px solid #3a6fd8; outline-offset: 1px; }}
.node.on {{ background: #fff3c4; border-color: #c79a00; }}
.node.current {{ background: #ffe27a; border: 2px solid #a77f00; }}
dt {{ font-weight: 600; margin-top: 10px; }}
dd {{ margin: 2px 0 0 0; white-space: pre-wrap; }}
#hint {{ color: #555; }}
@media (max-width: 800px) {{
  main {{ flex-direction: column; }}
  #panel {{ width: auto; border-left: none; border-top: 1px solid #ddd; max-height: 40vh; }}
  :root {{ --col: max(170px, calc((100vw - 40px) / var(--cols) - var(--gap))); }}
}}
</style></head>
<body>
<header><h1>Session {session}</h1>
<p>{nodes} intentions, {leaves} trajectories ({profile}); {shape}.</p></header>
<main>
<div id="tree">
<div class="products">{products}</div>
<div class="forest">{forest}</div>
</div>
<aside id="panel" aria-live="polite">
<p id="hint">Click or tap an intention, or Tab to it (then ← parent, → first child, ↑ ↓ siblings), to see
its valued attribute, rationale, comparison and product here; its path from the root is highlighted.</p>
<dl id="detail"></dl>
</aside>
</main>
<script type="application/json" id="tree-data">{data}</script>
<script>
const data = JSON.parse(document.getElementById("tree-data").textContent);
const detail = document.getElementById("detail");
const box = id => document.querySelector('.node[data-id="' + CSS.escape(id) + '"]');
function show(id) {{
  document.querySelectorAll(".node.on, .node.current").forEach(e => e.classList.remove("on", "current"));
  for (let n = id; n; n = data[n].parent) {{ const b = box(n); if (b) b.classList.add("on"); }}
  box(id).classList.add("current");
  const d = data[id];
  const product = d.product ? (d.product_title || d.product) + " (" + d.product + ")" : null;
  detail.replaceChildren();
  for (const [k, v] of [["Step", d.step], ["Intention", d.text], ["Valued attribute", d.attribute],
                        ["Rationale", d.rationale], ["Comparison", d.comparison], ["Product", product]]) {{
    if (v === null || v === undefined) continue;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    detail.append(dt, dd);
  }}
}}
function move(node, key) {{
  const sub = node.parentElement;
  if (key === "ArrowLeft") return sub.parentElement.closest(".sub")?.querySelector(":scope > .node");
  if (key === "ArrowRight") return sub.querySelector(":scope > .kids > .sub > .node");
  if (key === "ArrowUp") return sub.previousElementSibling?.querySelector(":scope > .node");
  if (key === "ArrowDown") return sub.nextElementSibling?.querySelector(":scope > .node");
  return null;
}}
document.querySelectorAll(".node").forEach(b => {{
  b.addEventListener("click", () => show(b.dataset.id));
  b.addEventListener("focus", () => show(b.dataset.id));
  b.addEventListener("keydown", e => {{
    const next = move(b, e.key);
    if (next) {{ e.preventDefault(); next.focus(); next.scrollIntoView({{block: "nearest", inline: "nearest"}}); }}
  }});
}});
</script>
</body></html>
"""
