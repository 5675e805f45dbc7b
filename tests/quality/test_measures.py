"""The quality report's measures on hand-made data, where the answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from intentkb.quality.measures import GENERIC_MIN_PAIRS, core, disjoint_pairs, distinct_n, generic_phrases, histogram, near_duplicates


def test_core_is_the_assertions_reason_else_the_first_sentence():
    a = "PersonX bought a product of Item A and a product of Item B because they are both used for the same purpose.\\*\\*"
    assert core("long text", a) == "they are both used for the same purpose"
    assert core("The potential co-buy intention could be that they go camping. More.", None).startswith("they go camping")


def test_distinct_n():
    assert distinct_n(["a b a b"], 1) == 0.5 and distinct_n(["a b a b"], 2) == round(2 / 3, 4)
    assert distinct_n([""], 2) is None


def test_generic_needs_many_unrelated_pairs():
    n = GENERIC_MIN_PAIRS
    unrelated = [frozenset({f"a{i}", f"b{i}"}) for i in range(n)]
    star = [frozenset({"hub", f"c{i}"}) for i in range(n)]  # all share one product: related
    cores = ["same reason"] * n + ["hub reason"] * n
    found = generic_phrases(cores, unrelated + star)
    assert [(c, i, u) for c, i, u, _ in found] == [("same reason", n, n)]
    assert disjoint_pairs(star) == 1


def test_near_duplicates_only_within_a_group():
    v = np.array([[1, 0], [0.999, 0.0447], [1, 0], [0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    dup = near_duplicates(v, [["g1"], ["g1"], ["g2"], ["g2"]])
    assert dup.tolist() == [True, True, False, False]


@given(st.lists(st.floats(-2, 2, allow_nan=False), max_size=50))
def test_histogram_counts_every_score(scores):
    h = histogram(scores)
    assert sum(c for _, _, c in h) == len(scores) and len(h) == 10


def test_outputs_that_are_not_regular_files_are_refused(tmp_path):
    """Audit: `report quality --html` hung on a FIFO and gave a traceback on /dev/full."""
    import os

    import pytest

    from intentkb.errors import IntentKBError
    from intentkb.evaluation.mcq import MCQuestion
    from intentkb.io.paths import check_output

    os.mkfifo(tmp_path / "fifo")
    for bad in (tmp_path / "fifo", Path("/dev/full")):
        with pytest.raises(IntentKBError, match="not a regular file"):
            check_output(bad, directory=False)
    check_output(tmp_path / "new.html", directory=False)  # a new file is fine
    with pytest.raises(ValueError, match="at most 10 options"):  # the letter-map form has the list form's limit
        MCQuestion.model_validate({"id": 1, "item_a_name": "A", "item_b_name": "B", "options": {c: c for c in "ABCDEFGHIJK"}, "gold_ind": "A"})
