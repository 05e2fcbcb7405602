"""search.metrics against hand-computed values (binary and graded) and a few properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.metrics import (
    average_precision,
    mean_metrics,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    recall_curve,
)

L2 = math.log2

# Binary judgements; "z" is relevant but never retrieved.
RUN = ["a", "b", "c", "d", "e"]
BINARY = {"b": 1, "d": 1, "z": 1, "e": 0}


def test_binary_hand_computed() -> None:
    assert mrr_at_k(RUN, BINARY, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(RUN, BINARY, 1) == 0.0
    assert recall_at_k(RUN, BINARY, 1) == 0.0
    assert recall_at_k(RUN, BINARY, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RUN, BINARY, 100) == pytest.approx(2 / 3)
    # precision at the relevant ranks 2 and 4, divided by all 3 relevant docs
    assert average_precision(RUN, BINARY) == pytest.approx((1 / 2 + 2 / 4) / 3)
    dcg = 1 / L2(3) + 1 / L2(5)
    idcg = 1 + 1 / L2(3) + 1 / L2(4)
    assert ndcg_at_k(RUN, BINARY, 5) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(RUN, BINARY, 5) == pytest.approx(0.498189, abs=1e-6)
    # cut at 3: only "b" counts, the ideal keeps 3 relevant docs
    assert ndcg_at_k(RUN, BINARY, 3) == pytest.approx((1 / L2(3)) / idcg)


def test_graded_linear_gain() -> None:
    run = ["a", "b", "c"]
    qrels = {"a": 1, "b": 0, "c": 2, "d": 3}
    dcg = 1 / L2(2) + 0 + 2 / L2(4)
    idcg = 3 / L2(2) + 2 / L2(3) + 1 / L2(4)  # ideal from all judged relevant docs
    assert ndcg_at_k(run, qrels, 3) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(run, qrels, 3) == pytest.approx(0.420004, abs=1e-6)
    # exponential gain (2^g - 1) would give 2.5 / 9.39 = 0.266: we use linear gain
    assert ndcg_at_k(run, qrels, 3) != pytest.approx(2.5 / (7 + 3 / L2(3) + 0.5), abs=1e-3)
    assert ndcg_at_k(run, qrels, 1) == pytest.approx(1 / 3)
    assert mrr_at_k(run, qrels, 10) == 1.0
    assert recall_at_k(run, qrels, 3) == pytest.approx(2 / 3)
    assert average_precision(run, qrels) == pytest.approx((1 + 2 / 3) / 3)


def test_graded_order_matters() -> None:
    qrels = {"x": 3, "y": 1}
    assert ndcg_at_k(["x", "y"], qrels, 10) == pytest.approx(1.0)
    worse = ndcg_at_k(["y", "x"], qrels, 10)
    assert worse == pytest.approx((1 + 3 / L2(3)) / (3 + 1 / L2(3)))
    assert worse < 1.0


def test_duplicates_keep_first_occurrence() -> None:
    assert mrr_at_k(["a", "a", "b"], {"b": 1}, 10) == pytest.approx(1 / 2)
    assert recall_at_k(["a", "a", "b"], {"b": 1}, 2) == pytest.approx(1.0)
    assert average_precision(["b", "b", "c"], {"b": 1, "c": 1}) == pytest.approx(1.0)


def test_no_relevant_documents_are_undefined() -> None:
    for qrels in ({}, {"a": 0, "b": 0}):
        assert ndcg_at_k(RUN, qrels, 10) is None
        assert mrr_at_k(RUN, qrels, 10) is None
        assert recall_at_k(RUN, qrels, 10) is None
        assert average_precision(RUN, qrels) is None
        assert recall_curve(RUN, qrels, 5) is None


def test_empty_ranking_scores_zero() -> None:
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0
    assert mrr_at_k([], {"a": 1}, 10) == 0.0
    assert average_precision([], {"a": 1}) == 0.0


def test_bad_cutoff() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(RUN, BINARY, 0)


def test_recall_curve() -> None:
    curve = recall_curve(RUN, BINARY, 7)
    assert curve == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])


def test_mean_metrics_excludes_and_counts_queries_without_relevant_docs() -> None:
    runs = {"q1": ["a", "b"], "q2": ["b", "a"], "q3": ["a"], "q4": ["c"]}
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}, "q3": {"a": 0}}  # q4 has no judgements at all
    result = mean_metrics(runs, qrels)
    assert result.evaluated == 2
    assert sorted(result.no_relevant) == ["q3", "q4"]
    assert set(result.per_query) == {"q1", "q2"}
    assert result.means["MRR@10"] == pytest.approx((1 + 1 / 2) / 2)
    assert result.means["MAP"] == pytest.approx((1 + 1 / 2) / 2)
    assert result.means["Recall@10"] == pytest.approx(1.0)
    assert result.means["nDCG@10"] == pytest.approx((1 + 1 / L2(3)) / 2)


def test_mean_metrics_with_nothing_evaluable() -> None:
    result = mean_metrics({"q": ["a"]}, {})
    assert result.evaluated == 0
    assert result.no_relevant == ["q"]
    assert all(v is None for v in result.means.values())


docs = st.sampled_from([f"d{i}" for i in range(12)])


@given(
    ranking=st.lists(docs, max_size=15),
    qrels=st.dictionaries(docs, st.integers(0, 3), min_size=1, max_size=8),
    k=st.integers(1, 20),
)
def test_properties(ranking: list[str], qrels: dict[str, int], k: int) -> None:
    has_rel = any(g > 0 for g in qrels.values())
    values = [
        ndcg_at_k(ranking, qrels, k),
        mrr_at_k(ranking, qrels, k),
        recall_at_k(ranking, qrels, k),
        average_precision(ranking, qrels),
    ]
    if not has_rel:
        assert values == [None] * 4
        return
    for v in values:
        assert v is not None and 0.0 <= v <= 1.0 + 1e-12
    # recall is monotone in k, and equals the curve
    curve = recall_curve(ranking, qrels, k + 1)
    assert curve is not None
    assert recall_at_k(ranking, qrels, k) == pytest.approx(curve[k - 1])
    assert curve[k - 1] <= curve[k]
    # the ideal ranking (grades descending) has nDCG 1 and AP 1
    ideal = sorted((d for d, g in qrels.items() if g > 0), key=lambda d: -qrels[d])
    assert ndcg_at_k(ideal, qrels, k) == pytest.approx(1.0)
    assert average_precision(ideal, qrels) == pytest.approx(1.0)
