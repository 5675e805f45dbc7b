"""The session page in a real browser (Debian's Chromium, headless, driven by Playwright): found by
a new user, the old page cut intentions to 34 characters, named products by ASIN, showed details on
hover only and sat in a corner of the window. Here every box is measured as the browser laid it out."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from intentkb.generate.schedule import BranchingSchedule
from intentkb.ingest import ingest_file
from intentkb.ingest.synthetic import synthetic_forest
from intentkb.views.session import write_session_html

from .conftest import CHROMIUM_ARGS

DEMO = Path(__file__).parents[2] / "intentkb/demo/data"
LONG = (
    "Wants a board that is stable at speed for long downhill runs, light enough to carry up the hill afterwards, "
    "with a deck that flexes for carving and wheels that stay quiet on rough tarmac, because the last one chattered "
    "and the rider now skates every evening on the way home from work."
)


@pytest.fixture
def pages(estore, tmp_path: Path) -> dict[str, Path]:
    """Two pages: the demo's hand-built tree, and a paper-shaped one (1 root, ×5 to step 4: 156
    intentions, 125 trajectories) with one intention of 300 characters."""
    ingest_file(estore, "products", DEMO / "products.csv", rejects_path=tmp_path / "p.rejects")
    ingest_file(estore, "trees", DEMO / "trees.jsonl", rejects_path=tmp_path / "t.rejects")
    big = next(synthetic_forest({4: 1}, BranchingSchedule(), products=40, prefix="paper"))
    big["intentions"][0]["children"][2]["text"] = LONG
    f = tmp_path / "big.jsonl"
    f.write_text(json.dumps(big) + "\n")
    ingest_file(estore, "trees", f, rejects_path=tmp_path / "b.rejects")
    return {
        "demo": write_session_html(estore, "demo-skate", tmp_path / "skate.html"),
        "paper": write_session_html(estore, big["session_id"], tmp_path / "paper.html"),
    }


LAYOUT = """() => {
  const boxes = [...document.querySelectorAll('.node')];
  const rects = boxes.map(b => b.getBoundingClientRect());
  const data = JSON.parse(document.getElementById('tree-data').textContent);
  let overlaps = 0;
  for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) {
    const a = rects[i], b = rects[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps++;
  }
  const tree = document.getElementById('tree').getBoundingClientRect();
  const right = Math.max(...rects.map(r => r.right), ...[...document.querySelectorAll('.product')].map(p => p.getBoundingClientRect().right));
  return {
    boxes: boxes.length,
    clipped: boxes.filter(b => {  // the text's own box must lie inside its button's
      const r = b.getBoundingClientRect(), t = b.querySelector('.text').getBoundingClientRect();
      return t.bottom > r.bottom + 0.5 || t.right > r.right + 0.5 || t.top < r.top - 0.5 || t.left < r.left - 0.5;
    }).length,
    cut: boxes.filter(b => !b.textContent.includes(data[b.dataset.id].text)).length,
    overlaps,
    main: document.querySelector('main').getBoundingClientRect().toJSON(),
    tree: tree.toJSON(),
    panel: document.getElementById('panel').getBoundingClientRect().toJSON(),
    used: (right - tree.left) / tree.width,
    columns: new Set(rects.map(r => Math.round(r.left))).size,
    products: [...document.querySelectorAll('.product .ptitle')].map(p => p.textContent),
  };
}"""


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_session_page_in_a_browser(chromium, pages, estore, tmp_path):
    from playwright.sync_api import sync_playwright

    titles = [r["title"] for r in estore.run("session_products", {"session": "demo-skate"})]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for name, path in pages.items():
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(path.as_uri())
                m = page.evaluate(LAYOUT)
                assert m["boxes"] == (11 if name == "demo" else 156)
                assert m["clipped"] == 0 and m["cut"] == 0, m  # whole intentions, wrapped in their boxes
                assert m["overlaps"] == 0, m
                assert m["columns"] == 4
                # the page fills the window: header + main to the bottom, the columns across the tree pane
                assert abs(m["main"]["bottom"] - 900) <= 1 and abs(m["main"]["width"] - 1400) <= 1, m
                assert m["used"] >= 0.9, m
                assert m["panel"]["left"] >= m["tree"]["right"] - 1  # beside the tree on a wide window
                shot = tmp_path / f"{name}.png"
                page.screenshot(path=str(shot))
                assert _png_size(shot) == (1400, 900)
                if name == "demo":
                    assert m["products"] == titles  # titles, not ASINs

                    # keyboard: Tab to the root, → first child, ↓ its sibling, ← back to the parent
                    page.keyboard.press("Tab")
                    root = page.evaluate("document.activeElement.dataset.id")
                    data = json.loads(page.inner_text("#tree-data"))
                    assert data[root]["parent"] is None and data[root]["text"] in page.inner_text("#detail")
                    page.keyboard.press("ArrowRight")
                    child = page.evaluate("document.activeElement.dataset.id")
                    assert data[child]["parent"] == root and data[child]["rationale"] in page.inner_text("#detail")
                    page.keyboard.press("ArrowDown")
                    sibling = page.evaluate("document.activeElement.dataset.id")
                    assert sibling != child and data[sibling]["parent"] == root
                    page.keyboard.press("ArrowLeft")
                    assert page.evaluate("document.activeElement.dataset.id") == root
                page.close()

            # touch: a tap on a leaf shows its details and lights its path from the root
            ctx = browser.new_context(viewport={"width": 600, "height": 800}, has_touch=True, is_mobile=True)
            page = ctx.new_page()
            page.goto(pages["demo"].as_uri())
            leaf = page.locator(".node[data-step='4']").first
            leaf.tap()
            detail = page.inner_text("#detail")
            leaf_id = leaf.get_attribute("data-id")
            data = json.loads(page.inner_text("#tree-data"))
            assert data[leaf_id]["text"] in detail and data[leaf_id]["product_title"] in detail
            assert page.locator(".node.on").count() == 4  # the leaf and its three ancestors
            m = page.evaluate(LAYOUT)
            assert m["clipped"] == 0 and m["overlaps"] == 0
            assert m["panel"]["top"] >= m["tree"]["bottom"] - 1  # a narrow screen puts the panel below
            ctx.close()
        finally:
            browser.close()
