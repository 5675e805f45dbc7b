"""Parameter encoding: values of any shape reach FalkorDB intact and only as data."""

from __future__ import annotations

import pytest

from intentkb.kb.falkordb.params import encode_value, params_header

TRICKY = [
    'a"b',
    "back\\slash",
    "new\nline",
    "tab\tx",
    "uni ✓ 日本 \u2028",
    "quote' single",
    '\\"',
    "end\\",
    "}`]) MATCH (n) DETACH DELETE n //",
    'x","k":1',
    "cr\rx",
    "\\u0000 literal",
    "`tick`",
    "",
    "emoji 🛒",
]


def test_tricky_strings_round_trip(estore):
    rows = [{"v": v, "n": i, "nested": {"l": [v, i, 1.5, True], "none": None}} for i, v in enumerate(TRICKY)]
    estore.write_rows("UNWIND $rows AS r CREATE (:Product {id: toString(r.n), v: r.v, l: r.nested.l})", rows)
    got = {r["id"]: r for r in estore.run("MATCH (p:Product) RETURN p.id AS id, p.v AS v, p.l AS l")}
    for i, v in enumerate(TRICKY):
        assert got[str(i)]["v"] == v
        assert got[str(i)]["l"] == [v, i, 1.5, True]


def test_fast_path_and_fallbacks():
    assert encode_value({"id": "x", "n": [1, {"k": "v"}]}) == '{`id`:"x",`n`:[1,{`k`:"v"}]}'
    assert encode_value({"Odd Key": 1}) == "{`Odd Key`:1}"  # not an identifier: the client's encoder
    assert encode_value("bell\x07") == '"bell\x07"'  # a control character JSON would \\u-escape
    assert params_header({"a": 1, "b": "x"}) == 'CYPHER a=1 b="x" '
    with pytest.raises(ValueError, match="identifier"):
        params_header({"x": 1, "y z": 2})


def test_text_that_is_not_valid_unicode_is_refused_before_the_engine():
    """The MCP audit: a lone surrogate (valid JSON for `json.loads`, so for the HTTP API) could be
    neither sent to the engine nor sent back to the client: the call was never answered."""
    from intentkb.errors import QueryRefused
    from intentkb.kb.guard import check_params, check_query_text

    for params in ({"x": "\ud800"}, {"x": {"\udfff": 1}}, {"x": ["ok", "\udc00"]}):
        with pytest.raises(QueryRefused, match="surrogate"):
            check_params(params)
    with pytest.raises(QueryRefused, match="not valid Unicode"):
        check_query_text("RETURN '\ud800' AS x")
    check_params({"x": "caf\u00e9 \U0001f600"})  # real astral characters are fine
