"""Validation that keeps the graph clean, and ids that make every write a MERGE."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from intentkb.generate.schedule import BranchingSchedule
from intentkb.kb import ids
from intentkb.kb.models import Attribute, Edge, EdgeType, Intention, Product, Relation, Script, Session, Step


@pytest.mark.parametrize("bad", ["", "   ", None, "\x00"])
def test_empty_ids_are_refused(bad):
    with pytest.raises(ValidationError, match="id"):
        Product(id=bad, asin="B000000001")


@pytest.mark.parametrize("price", [float("nan"), math.inf, -math.inf, "nan", -3.0])
def test_nan_infinite_and_negative_prices_are_refused(price):
    with pytest.raises(ValidationError, match="price"):
        Product(id="B1", asin="B1", price=price)


def test_wrong_types_are_refused():
    with pytest.raises(ValidationError):
        Session(id="s", length="three")
    with pytest.raises(ValidationError):
        Step(id="t", idx=0, text="step")  # steps count from 1
    with pytest.raises(ValidationError):
        Product(id="B1", asin="B1", colour="red")  # unknown property: a typo would be silent data loss


def test_text_is_cleaned_and_empty_text_dropped():
    p = Product(id=" B1 ", asin="B1", title="  Lamp\x00 shade ", brand="   ")
    assert p.id == "B1" and p.title == "Lamp shade" and p.brand is None
    assert "brand" not in p.props()


def test_relations_have_one_canonical_spelling():
    assert len(Relation) == 20
    assert Relation.parse("propertOf") is Relation.PROPERTY_OF  # the misspelling in the MIND CSVs
    assert Relation.parse("CauseDesire") is Relation.CAUSE_DESIRE
    assert Relation.parse("used_for") is Relation.USED_FOR
    with pytest.raises(ValueError, match="unknown relation"):
        Relation.parse("likes")


def test_intention_kinds_require_their_fields():
    with pytest.raises(ValidationError, match="relation"):
        Intention(id="i", text="x", kind="cobuy")
    with pytest.raises(ValidationError, match="step"):
        Intention(id="i", text="x", kind="session")
    with pytest.raises(ValidationError, match="unknown relation"):
        Intention(id="i", text="x", kind="cobuy", relation="likes")
    with pytest.raises(ValidationError):
        Intention(id="i", text="x", kind="wish")
    assert Intention(id="i", text="x", kind="cobuy", relation="propertOf").relation == "propertyOf"


def test_unknown_edge_types_and_properties_are_refused():
    with pytest.raises(ValidationError):
        Edge(type="LIKES", src="a", dst="b")
    with pytest.raises(ValidationError, match="no properties"):
        Edge(type=EdgeType.BRANCH, src="a", dst="b", props={"weight": 1})
    with pytest.raises(ValidationError, match="finite"):
        Edge(type=EdgeType.ALIGNED, src="a", dst="b", props={"score": float("nan")})
    assert Edge(type="VIEWED", src="s", dst="p", props={"pos": 2}).endpoints == ("Session", "Product")


def test_ids_are_deterministic_and_content_sensitive():
    assert ids.attribute_id("Color", " White ") == ids.attribute_id("color", "white")
    assert ids.attribute_id("color", "white") != ids.attribute_id("color", "black")
    a = ids.cobuy_intention_id("A", "B", "isA", "They are both lamps.")
    assert a == ids.cobuy_intention_id("A", "B", "isA", "they are both  lamps.")
    assert a != ids.cobuy_intention_id("B", "A", "isA", "They are both lamps.")
    assert ids.product_id("B09W9FND7K", "uk") == "UK:B09W9FND7K"
    assert ids.session_intention_ider("s1")((0, 3, 2)) == ids.session_intention_id("s1", (0, 3, 2))
    assert ids.script_id("Goal", None, None, ["a", "b"]) != ids.script_id("Goal", None, None, ["b", "a"])


def test_attribute_and_script_models():
    assert Attribute(id="a1", name="color", value="white").value == "white"
    with pytest.raises(ValidationError):
        Attribute(id="a1", name="color", value="")
    with pytest.raises(ValidationError):
        Script(id="c", objective="  ")


def test_branching_schedule_matches_the_paper():
    s = BranchingSchedule()
    assert s.nodes_per_step(5) == [1, 5, 25, 125, 125]
    assert [s.tree_size(n) for n in (3, 4, 5)] == [31, 156, 281]
    assert [s.trajectories(n) for n in (3, 4, 5)] == [25, 125, 125]
    assert BranchingSchedule(width=3, branch_until=3).nodes_per_step(4) == [1, 3, 9, 9]
