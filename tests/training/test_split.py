"""The product-disjoint split: no product on both sides, whatever the pairs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from intentkb.training.split import held_out_groups, pair_group

ids = st.sampled_from([f"P{i}" for i in range(30)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ids, ids).filter(lambda t: t[0] != t[1]), max_size=60), st.floats(0.05, 0.95))
def test_no_product_is_on_both_sides_and_the_split_is_stable(pairs, share):
    groups = [pair_group(a, b) for a, b in pairs]
    held = held_out_groups(groups, share)
    kept = set(groups) - held
    assert held <= set(groups)
    assert not {x for g in held for x in g.split("|")} & {x for g in kept for x in g.split("|")}
    assert held_out_groups(reversed(groups), share) == held  # order of arrival changes nothing


def test_a_chain_goes_to_one_side_whole():
    chain = [pair_group(f"C{i}", f"C{i + 1}") for i in range(10)]
    for share in (0.01, 0.5, 0.99):
        assert len(held_out_groups(chain, share)) in (0, 10)
