"""The readers of the papers' line formats: noisy but valid replies parse, wrong ones say why."""

from __future__ import annotations

import pytest

from intentkb.prompts.formats import reply_format, synthetic_reply
from intentkb.prompts.lines import (
    ParseError,
    parse_attributes,
    parse_cobuy_intention,
    parse_intentions,
    parse_objectives,
    parse_purchase_intentions,
    parse_steps,
    parse_verdict,
)
from intentkb.prompts.templates import Prompts
from intentkb.testing.replies import reply_of


def test_attributes_plain_and_markdown():
    got = parse_attributes("Category: Kitchen Appliance\nAttributes: brand: KitchenAid | model: Artisan Series | capacity: 5-Quart | color: Empire Red")
    assert got.category == "Kitchen Appliance"
    assert got.attributes == [("brand", "KitchenAid"), ("model", "Artisan Series"), ("capacity", "5-Quart"), ("color", "Empire Red")]
    got = parse_attributes(
        "**Category:** Clothing\n**Attributes:**\n- brand: Adidas\n- size: 8\n- description: a very long value that is more than three words"
    )
    assert got.attributes == [("brand", "Adidas"), ("size", "8")] and got.dropped == 1


@pytest.mark.parametrize(
    "reply, why",
    [
        ("Attributes: brand: X", "no 'Category:'"),
        ("Category: A very long category name\nAttributes: brand: X", "at most 3 words"),
        ("Category: Toys\nAttributes: just words here", "no attribute"),
    ],
)
def test_attributes_refused_with_reason(reply, why):
    with pytest.raises(ParseError, match=why):
        parse_attributes(reply)


PAPER_STYLE = """New Intention: Invest in premium quality footwear for long-lasting style and comfort.
Attribute: design: luxury material and craftsmanship.
Rationale: durability: The loafer is crafted from high-quality materials,
offering durability that ensures it will last longer than ordinary shoes.
Comparison: collectability: compared to the trainer, the loafer offers a blend of luxury and longevity.
**New Intention:** Own a versatile pair of shoes.
**Attribute:** varieties: loafer.
**Rationale:** usages: The loafer style is versatile.
**Comparison:** versatility: While the trainer is for workouts, the loafer suits many occasions."""


def test_intentions_multiline_and_markdown():
    got = parse_intentions(PAPER_STYLE, n=2)
    assert [g.text for g in got] == ["Invest in premium quality footwear for long-lasting style and comfort", "Own a versatile pair of shoes"]
    assert got[0].attribute == ("design", "luxury material and craftsmanship")
    assert got[0].rationale.endswith("last longer than ordinary shoes.")  # the continuation line is kept
    assert got[1].comparison_aspect == "versatility" and got[1].comparison.startswith("While the trainer")


def test_intentions_count_and_fields_checked():
    with pytest.raises(ParseError, match="expected 5 intentions"):
        parse_intentions(PAPER_STYLE, n=5)
    with pytest.raises(ParseError, match="no 'Comparison"):
        parse_intentions("New Intention: x y\nAttribute: a: b\nRationale: r: s", n=1)
    assert parse_intentions("New Intention: x y\nAttribute: a: b\nRationale: r: s", n=1, comparison=False)[0].comparison is None


def test_verdict_and_cobuy_intention():
    assert parse_verdict("Yes, the intention would encourage me.").accepted is True
    v = parse_verdict("No")
    assert v.accepted is False and v.reason is None
    assert parse_verdict("**No**, they are unrelated.\nAlso too pricey.").reason == "they are unrelated. Also too pricey."
    with pytest.raises(ParseError):
        parse_verdict("Maybe, it depends.")
    assert parse_cobuy_intention("The potential co-buy intention could be that they are both used for parties.").startswith("The potential")
    with pytest.raises(ParseError):
        parse_cobuy_intention("ok")


def test_scripts_formats():
    objs = parse_objectives("Objective: Host a barbecue\nSpecific Goal: for ten friends\nConstraint: on a budget\nObjective: Paint a room\n", n=2)
    assert objs[0].constraint == "on a budget" and objs[1].specific_goal is None
    assert parse_steps("Step 1: Buy charcoal.\nStep 2: Light the grill.\n3. Cook.") == ["Buy charcoal", "Light the grill", "Cook"]
    with pytest.raises(ParseError, match="numbered"):
        parse_steps("Step 1: a\nStep 3: c")
    assert parse_purchase_intentions("Intention 1: to a\nIntention 2: to b\nIntention 3: to a", n=2) == ["to a", "to b"]
    with pytest.raises(ParseError):
        parse_purchase_intentions("Intention 1: to a", n=2)


def test_every_bundled_template_is_recognised_and_answerable():
    """The scripted server recognises every bundled template from its rendered prompt alone, and the
    synthetic reply it makes in that template's format reads with the format's own reader."""
    prompts = Prompts()
    product = {"text": "Mug (color: red)", "title": "Mug", "details": "", "features": "A mug", "category": "Kitchen", "images": [], "has_images": False}
    values = {
        "sib_attributes": {"product": product},
        "sib_tree_root": {"product": product, "n": 1},
        "sib_tree_branch": {"previous_intention": "x", "previous_products": [product], "product": product, "n": 5},
        "mind_features": {"product": product},
        "mind_intention": {"a": product, "b": product, "relation": {"phrase": "they are both used for"}},
        "mind_filter": {"a": product, "b": product, "relation": {"phrase": "they are both used for"}, "intention": "x"},
        "esb_objectives": {"product": product, "category": "Kitchen", "n": 3},
        "esb_script": {"objective": "Cook", "specific_goal": None, "constraint": None, "category": None},
        "esb_purchase_intentions": {"product": product, "n": 4},
    }
    for name, vals in values.items():
        t = prompts.get(name)
        text = "\n".join(m["content"] for m in t.render(**vals) if m["role"] == "user")
        name_, args = reply_of({"messages": [{"role": "user", "content": text}]})
        assert name_ == t.reply, name
        assert args.get("n", 1) == vals.get("n", 1), name
        reply_format(name_).read(synthetic_reply(name_, args, name), **{**t.reply_args, **args})
    assert len(prompts.relation_phrases()) == 20
