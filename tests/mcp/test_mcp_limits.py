"""Answers sized for an LLM's context: the token limit cuts lists and says so; nothing else changes."""

from __future__ import annotations

import pytest

from intentkb.errors import IntentKBError
from intentkb.mcp.answers import CHARS_PER_TOKEN, tokens
from intentkb.mcp.tools import KbTools, McpLimits
from intentkb.serve.state import KbState


@pytest.fixture(scope="module")
def state(demo_kb):
    st = KbState(demo_kb[1])
    yield st
    st.close()


def test_a_long_answer_is_cut_to_the_limit_and_says_how_to_narrow_it(state) -> None:
    whole = KbTools(state, McpLimits(max_tokens=1_000_000)).read_cypher("MATCH (p:Product) RETURN p.id AS id, p.title AS title ORDER BY id")
    assert not whole.truncated and len(whole.rows) == 288
    cut = KbTools(state, McpLimits(max_tokens=1000)).read_cypher("MATCH (p:Product) RETURN p.id AS id, p.title AS title ORDER BY id")
    assert cut.truncated and 0 < len(cut.rows) < 288 and cut.rows == whole.rows[: len(cut.rows)]
    assert tokens(cut) <= 1000 < tokens(cut.model_copy(update={"rows": whole.rows[: len(cut.rows) + 1]}))
    assert cut.note and f"{len(cut.rows)} of 288" in cut.note and "LIMIT" in cut.note
    assert len(cut.model_dump_json()) <= 1000 * CHARS_PER_TOKEN

    hits = KbTools(state, McpLimits(max_tokens=1000)).retrieve_products("learn to ride a longboard", k=50)
    assert hits.truncated and hits.products and "smaller k" in (hits.note or "")


def test_named_queries_run_under_the_outside_limits(state) -> None:
    tools = KbTools(state, McpLimits(max_rows=5))
    with pytest.raises(IntentKBError, match="rows"):
        tools.run_named_query("count_edge_types")  # 11 edge types: past 5 rows, refused like any outside query
    assert len(KbTools(state).run_named_query("count_edge_types").rows) == 11


def test_kb_status_says_which_index_cannot_be_read(state) -> None:
    """The second attack: a damaged meta.json made kb_status fail with no reason, the tool one
    reaches for to diagnose a broken knowledge base."""
    from intentkb.retrieval.index import index_dir

    meta = index_dir(state.settings, "products") / "meta.json"
    saved = meta.read_bytes()
    try:
        meta.write_text('{"count": "many"}')
        got = {i.name: i for i in KbTools(state).kb_status().indexes}
        assert got["products"].kind == "unreadable" and "rebuild" in (got["products"].problem or "")
        assert got["intentions"].problem is None and got["intentions"].count > 0
    finally:
        meta.write_bytes(saved)
