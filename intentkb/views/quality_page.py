"""The knowledge-quality report as one self-contained HTML page: headline figures, then plots
(matplotlib, drawn to PNG and inlined, so the page needs no network and no script), then the
tables behind them. Text is escaped by Jinja2's autoescaping."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment

from ..errors import IntentKBError
from ..io.paths import check_output
from ..private import private_write_text
from ..quality.report import QualityReport

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Knowledge quality · {{ r.graph }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: .7rem 1rem; min-width: 11rem; }
.card b { display: block; font-size: 1.6rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
</style></head><body>
<h1>Knowledge quality of graph “{{ r.graph }}”</h1>
<div class="cards">
  <div class="card" id="intentions"><b>{{ "{:,}".format(r.intentions) }}</b>intentions</div>
  <div class="card" id="generic"><b>{{ pct(r.overall.generic_share) }}</b>generic (a phrase said of ≥ {{ r.generic_min_pairs }} unrelated pairs)</div>
  <div class="card" id="near-duplicates"><b>{{ pct(r.overall.near_duplicate_share) }}</b>near-duplicates (cosine ≥ {{ r.near_duplicate_cosine }})</div>
  <div class="card" id="accepted"><b>{{ pct(r.overall.accepted_share) }}</b>accepted by the filter</div>
  <div class="card" id="uncovered"><b>{{ "{:,}".format(r.products_without_intention) }} / {{ "{:,}".format(r.products) }}</b>products with no intention</div>
  <div class="card" id="schema"><b>{{ problems }}</b>schema problems</div>
</div>
{% for title, src, alt in figures %}
<h2>{{ title }}</h2><figure><img src="data:image/png;base64,{{ src }}" alt="{{ alt }}"></figure>
{% endfor %}
<h2>Most generic phrases</h2>
<table id="phrases"><tr><th>phrase</th><th>unrelated pairs</th><th>intentions</th><th>e.g. pairs</th></tr>
{% for g in r.generic %}<tr><td>{{ g.phrase }}</td><td>{{ g.unrelated_pairs }}</td><td>{{ g.intentions }}</td><td>{{ g.pairs[:2] | join(", ") }}</td></tr>
{% endfor %}</table>
<h2>Per relation</h2>
<table id="relations"><tr><th>relation</th><th>intentions</th><th>accepted</th><th>near-dup</th><th>generic</th><th>distinct-1</th><th>distinct-2</th></tr>
{% for s in r.by_relation %}<tr><td>{{ s.name }}</td><td>{{ s.intentions }}</td><td>{{ pct(s.accepted_share) }}</td><td>{{ pct(s.near_duplicate_share) }}</td><td>{{ pct(s.generic_share) }}</td><td>{{ s.distinct_1 }}</td><td>{{ s.distinct_2 }}</td></tr>
{% endfor %}</table>
<h2>Schema</h2>
<ul id="schema-problems">{% for p in r.schema_problems if p.n %}<li>{{ p.n }} × {{ p.problem }} ({{ p.label }})</li>{% else %}<li>every node has its required properties and links</li>{% endfor %}</ul>
<p>Steps with no aligned intention: {{ "{:,}".format(r.steps_unaligned) }} of {{ "{:,}".format(r.steps) }}. Sessions: {{ "{:,}".format(r.sessions) }}. Measured in {{ r.seconds }} s.</p>
</body></html>
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def figures(r: QualityReport) -> list[tuple[str, str, str]]:
    """(heading, PNG as base64, alt text) of each plot the report has data for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    rel = [s for s in r.by_relation if s.name != "(none)"] or r.by_pipeline
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rel) + 1.2))
    names = [s.name for s in rel][::-1]
    ys = range(len(names))
    for off, (label, key) in zip(
        (-0.27, 0.0, 0.27), (("generic", "generic_share"), ("near-duplicate", "near_duplicate_share"), ("accepted", "accepted_share"))
    ):
        ax.barh([y + off for y in ys], [(getattr(s, key) or 0) * 100 for s in rel][::-1], height=0.26, label=label)
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("% of the intentions")
    ax.legend(loc="lower right")
    out.append(("Generic, duplicated and accepted, per relation", _png(fig), "bars per relation: generic, near-duplicate and accepted shares"))
    plt.close(fig)
    if r.generic:
        g = r.generic[:10][::-1]
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(g) + 1))
        ax.barh([x.phrase[:60] for x in g], [x.unrelated_pairs for x in g], color="#c0504d")
        ax.set_xlabel("unrelated pairs it is said of")
        out.append(("The phrases that explain everything", _png(fig), "the most generic phrases and how many unrelated pairs each explains"))
        plt.close(fig)
    per = sorted(r.intentions_per_product.items())
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar([str(n) if n < 10 else f"{n}" for n, _ in per], [c for _, c in per], color="#4f81bd")
    ax.set_xlabel("intentions linked to a product")
    ax.set_ylabel("products")
    out.append(("Coverage: intentions per product", _png(fig), "histogram of intentions per product; the bar at 0 is products no intention explains"))
    plt.close(fig)
    if r.critic_scores:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.bar([f"{lo:.1f}" for lo, _, _ in r.critic_scores], [n for _, _, n in r.critic_scores], color="#9bbb59")
        ax.set_xlabel("critic score (bin start)")
        ax.set_ylabel("intentions")
        out.append(("The critic's scores", _png(fig), "histogram of critic scores"))
        plt.close(fig)
    return out


def write_quality_html(report: QualityReport, path: Path | str) -> Path:
    """Write the page (0600); the path is checked like every output."""
    path = Path(path)
    check_output(path, directory=False)
    env = Environment(autoescape=True)
    problems = sum(p.n for p in report.schema_problems)
    html = env.from_string(PAGE).render(r=report, figures=figures(report), problems=f"{problems:,}", pct=lambda x: "-" if x is None else f"{x:.1%}")
    try:
        private_write_text(path, html)
    except OSError as e:
        raise IntentKBError(f"cannot write {path}: {e.strerror or e}") from None
    return path
