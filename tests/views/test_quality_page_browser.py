"""The quality page in a real browser (Debian's Chromium, headless, driven by Playwright): every plot
decodes and is drawn at a readable size, the headline figures are there, nothing overflows."""

from __future__ import annotations

from intentkb.ingest import ingest_file
from intentkb.quality.report import quality_report
from intentkb.views.quality_page import write_quality_html

from ..conftest import FIXTURES
from .conftest import CHROMIUM_ARGS


def test_the_quality_page_renders(estore, tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    ingest_file(estore, "cobuy", FIXTURES / "mind_train.csv", rejects_path=tmp_path / "r.jsonl")
    page_path = write_quality_html(quality_report(estore, estore.settings), tmp_path / "quality.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            seen = page.evaluate(
                """() => ({
                  images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, w: i.getBoundingClientRect().width})),
                  cards: [...document.querySelectorAll('.card b')].map(b => b.textContent.trim()),
                  phrases: document.querySelectorAll('#phrases tr').length,
                  overflow: document.documentElement.scrollWidth > window.innerWidth,
                })"""
            )
        finally:
            browser.close()
    assert len(seen["images"]) == 3 and all(i["ok"] and i["w"] >= 400 for i in seen["images"])
    assert len(seen["cards"]) == 6 and seen["cards"][0].replace(",", "").isdigit() and seen["cards"][1].endswith("%")
    assert seen["phrases"] > 1 and not seen["overflow"]
