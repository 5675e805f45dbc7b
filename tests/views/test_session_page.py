"""The HTML session view: the whole intention tree of a demo session."""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.config import Settings
from intentkb.demo import DEMO_FILES, data_path
from intentkb.evaluation.run import evaluate
from intentkb.export.tasks import ExportOptions, export_tasks
from intentkb.ingest import ingest_file
from intentkb.kb.engines import open_store
from intentkb.kb.queries import session_tree
from intentkb.prompts.templates import Prompts
from intentkb.retrieval.align import align_steps
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.embeddings import Embedder, EmbeddingCache, embedding_text
from intentkb.retrieval.models import DEFAULT_MODEL
from intentkb.retrieval.retrieve import Retriever
from intentkb.tasks.esb.builder import esb_items
from intentkb.tasks.iqa.builder import iqa_items, shown_intention
from intentkb.tasks.items import TaskItem
from intentkb.tasks.registry import all_tasks
from intentkb.tasks.render import STYLES, parse_answer, render
from intentkb.tasks.sib.builder import sib_items
from intentkb.tasks.split import split_of
from intentkb.tasks.stats import BuildStats
from intentkb.views.session import session_html

# -- HTML --------------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, str]] = []
        self.products: list[str] = []
        self.product_titles: list[str] = []
        self.titles: list[str] = []
        self.scripts: list[str] = []
        self.box_text: dict[str, str] = {}
        self._in: str | None = None
        self._node: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "button" and "node" in classes:
            self.nodes.append(a)
            self.titles.append(a["title"])
            self._node = a["data-id"]
            self.box_text[self._node] = ""
        if tag == "div" and "product" in classes:
            self.products.append(a["data-pos"])
        if tag == "span" and "ptitle" in classes:
            self._in = "ptitle"
        if tag == "script":
            self._in = tag

    def handle_endtag(self, tag):
        self._in = None
        if tag == "button":
            self._node = None

    def handle_data(self, data):
        if self._node is not None:
            self.box_text[self._node] += data
        if self._in == "ptitle":
            self.product_titles.append(data)
        elif self._in == "script":
            self.scripts.append(data)


def test_session_page_shows_the_whole_tree(demo_kb, tmp_path):
    store, settings = demo_kb
    g = session_tree(store, "demo-skate")
    page = _Page()
    page.feed(session_html(store, "demo-skate"))
    assert {n["data-id"] for n in page.nodes} == set(g.nodes)
    assert len(page.products) == store.run("MATCH (:Session {id: 'demo-skate'})-[:VIEWED]->(p) RETURN count(p) AS n")[0]["n"]
    titles = [r["title"] for r in store.run("session_products", {"session": "demo-skate"})]
    assert page.product_titles == titles  # product titles head the columns, not bare ASINs
    data = json.loads(page.scripts[0])
    for n, d in g.nodes(data=True):
        assert d["text"] in page.box_text[n] and "…" not in page.box_text[n]  # the whole intention, never cut
        assert data[n]["product_title"] in titles
        assert data[n]["parent"] == next(iter(g.predecessors(n)), None)
        assert data[n]["text"] == d["text"] and data[n]["rationale"] == d["rationale"]
        tip = next(t for t in page.titles if t.startswith(f"I{d['step']}: {d['text']}"))
        assert f"values: {d['attribute_name']}: {d['attribute_value']}" in tip
        if d["comparison"]:
            assert d["comparison"] in tip and d["comparison"] in data[n]["comparison"]
    r = CliRunner().invoke(
        cli, ["--data-dir", str(settings.data_dir), "show", "session", "nope", "--html", str(tmp_path / "x.html")], env={"INTENTKB_GRAPH": settings.graph_name}
    )
    assert r.exit_code == 1 and "no intention tree" in r.output
