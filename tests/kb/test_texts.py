"""Clean texts: the boilerplate table, HTML entities at ingest, readable snippets."""

from __future__ import annotations

import csv
import html

from hypothesis import given
from hypothesis import strategies as st

from intentkb.ingest import ingest_file
from intentkb.kb.texts import BOILERPLATE, add_boilerplate, snippet, strip_boilerplate, unescape_html
from intentkb.retrieval.embeddings import embedding_text

from ..conftest import FIXTURES


def _mind_texts() -> list[str]:
    with open(FIXTURES / "mind_sample.csv", encoding="utf-8", newline="") as fh:
        return [v for row in csv.DictReader(fh) for k, v in row.items() if v and (k.startswith("Intention_") or k.startswith("tail_"))]


def test_every_known_opening_of_the_real_data_is_stripped():
    """MIND's "The potential co-buy intention … could be that" and FolkScope's "PersonX bought …"."""
    texts = _mind_texts()
    assert len(texts) >= 20
    for t in texts:
        core = embedding_text(t)
        assert core and "co-buy intention" not in core[:60].lower() and not core.lower().startswith("personx"), (t, core)
        assert core in t  # only an opening is dropped
    assert (
        strip_boilerplate("The potential co-buy intention for people purchasing these two U.S. Polo Assn. shirts might be: to dress alike") == "to dress alike"
    )
    assert (
        strip_boilerplate('PersonX bought a product of Item A and a product of Item B because they both are a type of "Laptop Accessories".')
        == 'they both are a type of "Laptop Accessories".'
    )
    assert strip_boilerplate("Keep coffee hot on the commute") == "Keep coffee hot on the commute"
    assert strip_boilerplate("The potential co-buy intention could be") == "The potential co-buy intention could be"  # nothing left


def test_the_table_is_extensible():
    before = len(BOILERPLATE)
    try:
        add_boilerplate("my-generator", r"my model says:\s*")
        assert strip_boilerplate("My model says: pack light") == "pack light"
    finally:
        del BOILERPLATE[before:]
    assert strip_boilerplate("My model says: pack light") == "My model says: pack light"


def test_snippets_are_short_first_sentences():
    t = (
        "The potential co-buy intention for these two products could be that they are both used for communication purposes. "
        "The BTECH QHM22 Platinum Series Shoulder Speaker Mic is designed to endure rain."
    )
    assert snippet(t) == "They are both used for communication purposes."
    long = snippet("word " * 80, limit=40)
    assert len(long) <= 40 and long.endswith("…")


@given(st.text(alphabet=st.characters(blacklist_characters="&"), max_size=60))
def test_unescape_undoes_escaping(s):
    assert unescape_html(html.escape(s)) == s
    assert unescape_html(s) == s


def test_html_entities_are_unescaped_at_ingest(estore, tmp_path):
    with open(FIXTURES / "catalog_sample.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    head, first = rows[0], rows[1]
    name = head.index("Product Name")
    first[name] = "Melissa &amp; Doug Wooden Blocks &ndash; 100 &quot;pieces&quot;"
    path = tmp_path / "catalog.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([head, first])
    ingest_file(estore, "products", path, rejects_path=tmp_path / "r.jsonl")
    titles = [r["t"] for r in estore.run("MATCH (p:Product) RETURN p.title AS t")]
    assert titles == ['Melissa & Doug Wooden Blocks – 100 "pieces"']
