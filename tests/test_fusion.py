"""Rank fusion: hand-computed cases and properties; the recorded Fusion value."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.errors import InvalidParameter
from indexer.fusion import (
    DEFAULT_FUSION,
    K_RRF,
    Fusion,
    convex_combination,
    min_max,
    reciprocal_rank_fusion,
)


def test_rrf_hand_computed() -> None:
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (4, 9.0), (1, 1.0)]
    fused = dict(reciprocal_rank_fusion([dense, lexical]))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 63)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[4] == pytest.approx(1 / 62)
    order = [d for d, _ in reciprocal_rank_fusion([dense, lexical])]
    # 1 and 3 tie (1/61 + 1/63) and beat 2 and 4 (1/62); ties break by doc id.
    assert order == [1, 3, 2, 4]


def test_rrf_weights_and_k() -> None:
    dense = [(10, 1.0), (20, 0.5)]
    lexical = [(20, 3.0), (30, 2.0)]
    fused = dict(reciprocal_rank_fusion([dense, lexical], weights=[2.0, 0.5], k_rrf=1))
    assert fused[10] == pytest.approx(2.0 / 2)
    assert fused[20] == pytest.approx(2.0 / 3 + 0.5 / 2)
    assert fused[30] == pytest.approx(0.5 / 3)
    assert [d for d, _ in reciprocal_rank_fusion([dense, lexical], [2.0, 0.5], 1)] == [10, 20, 30]
    # A zero weight turns a list off entirely: the order is the other list's.
    only_lex = reciprocal_rank_fusion([dense, lexical], weights=[0.0, 1.0])
    assert [d for d, s in only_lex if s > 0] == [20, 30]


def test_rrf_ignores_scores_and_duplicates() -> None:
    a = [(5, -100.0), (6, 1e9)]  # only ranks matter
    fused = dict(reciprocal_rank_fusion([a]))
    assert fused[5] > fused[6]
    dup = [(7, 1.0), (8, 0.9), (7, 0.1)]
    assert dict(reciprocal_rank_fusion([dup]))[7] == pytest.approx(1 / (K_RRF + 1))


def test_rrf_bad_arguments() -> None:
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([[(1, 1.0)], [(2, 1.0)]], weights=[1.0])
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([[(1, 1.0)]], weights=[-1.0])
    with pytest.raises(ValueError, match="k_rrf"):
        reciprocal_rank_fusion([[(1, 1.0)]], k_rrf=-1)
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


def test_rrf_weighted_hand_computed() -> None:
    # The engine's hybrid mode: (dense, lexical) weights, the default k.
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    lexical = [(3, 20.0), (4, 10.0)]
    fused = dict(reciprocal_rank_fusion([dense, lexical], weights=[0.7, 0.3], k_rrf=K_RRF))
    assert fused[1] == pytest.approx(0.7 / 61)
    assert fused[2] == pytest.approx(0.7 / 62)
    assert fused[3] == pytest.approx(0.7 / 63 + 0.3 / 61)
    assert fused[4] == pytest.approx(0.3 / 62)
    order = [d for d, _ in reciprocal_rank_fusion([dense, lexical], weights=[0.7, 0.3])]
    # 3 is in both lists; 1 edges out 2 on rank alone; 4, second of the light list, last.
    assert order == [3, 1, 2, 4]


ranked_lists = st.lists(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(-10, 10, allow_nan=False)),
        max_size=25,
    ),
    min_size=1,
    max_size=4,
)


@given(ranked_lists)
def test_rrf_properties(lists) -> None:
    fused = reciprocal_rank_fusion(lists)
    ids = [d for d, _ in fused]
    assert len(ids) == len(set(ids))
    assert set(ids) == {d for lst in lists for d, _ in lst}
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    # Upper bound: first place in every list.
    assert all(0 < s <= len(lists) / (K_RRF + 1) + 1e-12 for s in scores)
    # Recompute independently from the definition.
    for doc_id, score in fused:
        expect = 0.0
        for lst in lists:
            ranks = [r for r, (d, _) in enumerate(lst, start=1) if d == doc_id]
            if ranks:
                expect += 1 / (K_RRF + ranks[0])
        assert math.isclose(score, expect, rel_tol=1e-12)


@given(ranked_lists, st.data())
def test_weighted_rrf_properties(lists, data) -> None:
    weights = data.draw(st.lists(st.floats(0, 5), min_size=len(lists), max_size=len(lists)))
    fused = reciprocal_rank_fusion(lists, weights)
    assert {d for d, _ in fused} == {d for lst in lists for d, _ in lst}
    assert all(-1e-12 <= s <= sum(weights) / (K_RRF + 1) + 1e-12 for _, s in fused)
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)


def test_min_max_hand_computed() -> None:
    assert min_max([(1, 10.0), (2, 6.0), (3, 2.0)]) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert min_max([(4, 0.3), (5, 0.3)]) == {4: 1.0, 5: 1.0}  # no spread: all at the top
    assert min_max([(7, 2.0), (7, -5.0), (8, 1.0)]) == {7: 1.0, 8: 0.0}  # first (best) kept
    assert min_max([]) == {}


def test_convex_hand_computed() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]  # normalised: 1 -> 1, 2 -> 0.5, 3 -> 0
    lexical = [(3, 20.0), (4, 15.0), (1, 10.0)]  # 3 -> 1, 4 -> 0.5, 1 -> 0
    fused = convex_combination([dense, lexical], [0.3, 0.7])
    assert dict(fused) == pytest.approx({1: 0.3, 2: 0.15, 3: 0.7, 4: 0.35})
    assert [d for d, _ in fused] == [3, 4, 1, 2]
    # Scores matter, not just ranks: RRF with the same weights orders them otherwise.
    assert [d for d, _ in reciprocal_rank_fusion([dense, lexical], [0.3, 0.7])] == [3, 1, 4, 2]
    # A side of weight 0 leaves the other side's order.
    only_lex = [d for d, _ in convex_combination([dense, lexical], [0.0, 1.0])]
    assert only_lex[:3] == [3, 4, 1]


@given(ranked_lists, st.data())
def test_convex_properties(lists, data) -> None:
    weights = data.draw(st.lists(st.floats(0, 5), min_size=len(lists), max_size=len(lists)))
    fused = convex_combination(lists, weights)
    assert {d for d, _ in fused} == {d for lst in lists for d, _ in lst}
    assert all(-1e-9 <= s <= sum(weights) + 1e-9 for _, s in fused)
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    # Invariant to a positive affine change of one list's scores (of a visible spread).
    firsts: dict[int, float] = {}
    for d, s in lists[0]:
        firsts.setdefault(d, s)  # a repeated doc id keeps its first score
    spread = list(firsts.values())
    if not spread or max(spread) - min(spread) < 1e-3:
        return
    shifted = [[(d, 3.0 * s + 7.0) for d, s in lists[0]], *lists[1:]]
    again = dict(convex_combination(shifted, weights))
    assert again.keys() == dict(fused).keys()
    assert all(math.isclose(again[d], s, abs_tol=1e-9) for d, s in fused)


def test_fusion_value_applies_its_method_and_weights() -> None:
    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    lexical = [(3, 20.0), (4, 15.0), (1, 10.0)]
    convex = Fusion("convex", 0.3, 0.7)
    assert convex.fuse(dense, lexical) == convex_combination([dense, lexical], [0.3, 0.7])
    rrf = Fusion("rrf", 2.0, 0.5, k_rrf=1)
    assert rrf.fuse(dense, lexical) == reciprocal_rank_fusion([dense, lexical], [2.0, 0.5], 1)
    # The default is today's: equal-weight RRF, k = 60, 100 candidates a side.
    assert DEFAULT_FUSION == Fusion.from_dict(None) == Fusion("rrf", 1.0, 1.0, K_RRF, 100)
    assert DEFAULT_FUSION.fuse(dense, lexical) == reciprocal_rank_fusion([dense, lexical])
    over = Fusion("convex", 0.3, 0.7, min_words=4).with_weights(1.0, 0.0)
    assert (over.method, over.weights, over.chosen_by) == ("convex", (1.0, 0.0), "request")
    assert over.min_words == 0  # request weights apply to every query


def test_short_queries_get_rrf_with_dense_at_most_even() -> None:
    cal = Fusion("convex", 0.9, 0.1, k_rrf=30, depth=50, chosen_by="calibration", min_words=4)
    even = Fusion("rrf", 0.5, 0.5, 30, 50, "short query")
    assert cal.for_query("beta blockers in heart failure") is cal
    assert cal.for_query("Receptors, Adrenergic, beta") == even
    assert cal.for_query("IL-6") == even  # "IL", "6": 2 words
    assert "queries under 4 words: rrf, dense 0.5 / lexical 0.5, k 30" in cal.describe()
    # A dense side worth little on long queries gets as little on short ones.
    weak = Fusion("rrf", 0.2, 0.8, min_words=4, chosen_by="calibration")
    assert weak.for_query("asthma").weights == pytest.approx((0.2, 0.8))
    useless = Fusion("rrf", 0.0, 1.0, min_words=4, chosen_by="calibration")
    assert useless.for_query("asthma").weights == (0.0, 1.0)
    assert Fusion().for_query("x") == Fusion()  # min_words 0: every query


def test_fusion_round_trips_and_refuses_bad_values() -> None:
    f = Fusion("convex", 0.2, 0.8, 60, 100, "calibration", {"pairs": 300, "grid": {"rrf": []}})
    back = Fusion.from_dict(f.to_dict())
    assert back == f and back.calibration == f.calibration
    assert f.describe() == "convex, dense 0.2 / lexical 0.8, depth 100 (calibration)"
    for bad in (
        {"method": "max"},
        {"dense_weight": -0.1},
        {"dense_weight": 0.0, "lexical_weight": 0.0},
        {"lexical_weight": float("inf")},
        {"k_rrf": -1},
        {"depth": 0},
        {"min_words": -1},
    ):
        with pytest.raises(InvalidParameter):
            Fusion(**bad)
    with pytest.raises(InvalidParameter, match="not a fusion record"):
        Fusion.from_dict({"method": "rrf", "colour": "blue"})
