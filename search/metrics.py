"""Retrieval metrics over one ranked list of doc ids and one query's judgements.

Pure functions, no I/O. ``ranking`` is the system's ranked list of doc ids, best first
(duplicates are dropped, keeping the first occurrence, as trec_eval does with a valid run);
``qrels`` maps judged doc ids to an integer grade: ``grade > 0`` is relevant, ``0`` (or
negative) is judged non-relevant. Doc ids are compared as given: use one type (the
evaluation layer uses ``str``).

Definitions (those of trec_eval's ``ndcg_cut``, ``recip_rank``, ``recall`` and ``map``):

- nDCG@k: ``DCG@k = sum_{i=1..k} gain(d_i) / log2(i + 1)`` with **linear gain**
  (``gain = grade`` for grade > 0, else 0) and ranks starting at 1; the ideal DCG@k sorts
  the grades of *all* judged relevant docs (retrieved or not) in decreasing order.
- MRR@k: ``1 / rank`` of the first doc with grade > 0 within the top k, else 0.
- Recall@k: relevant docs in the top k / all relevant docs.
- AP: over the whole ranking, ``sum of precision@i at each relevant rank i`` / all relevant
  docs (relevant docs never retrieved contribute 0). MAP is its mean over queries.

**Queries without any relevant doc** (no judgements, or only grade <= 0): every metric is
undefined, the functions return ``None``, and :func:`mean_metrics` leaves them out of the
means and counts them separately (trec_eval likewise ignores queries with no relevant doc in
its means).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from indexer.errors import InvalidParameter

D = TypeVar("D", bound=Hashable)


def _unique(ranking: Iterable[D]) -> list[D]:
    seen: set[D] = set()
    out: list[D] = []
    for d in ranking:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _relevant(qrels: Mapping[D, int]) -> dict[D, int]:
    return {d: g for d, g in qrels.items() if g > 0}


def _check_k(k: int) -> None:
    if k < 1:
        raise InvalidParameter(f"cutoff k must be >= 1, got {k}")


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of ``gains`` in rank order (rank 1 first)."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains) if g)


def ndcg_at_k(ranking: Sequence[D], qrels: Mapping[D, int], k: int) -> float | None:
    _check_k(k)
    rel = _relevant(qrels)
    if not rel:
        return None
    top = _unique(ranking)[:k]
    actual = dcg(rel.get(d, 0) for d in top)
    ideal = dcg(sorted(rel.values(), reverse=True)[:k])
    return actual / ideal


def mrr_at_k(ranking: Sequence[D], qrels: Mapping[D, int], k: int) -> float | None:
    _check_k(k)
    rel = _relevant(qrels)
    if not rel:
        return None
    for i, d in enumerate(_unique(ranking)[:k], start=1):
        if d in rel:
            return 1.0 / i
    return 0.0


def recall_at_k(ranking: Sequence[D], qrels: Mapping[D, int], k: int) -> float | None:
    _check_k(k)
    rel = _relevant(qrels)
    if not rel:
        return None
    found = sum(1 for d in _unique(ranking)[:k] if d in rel)
    return found / len(rel)


def average_precision(ranking: Sequence[D], qrels: Mapping[D, int]) -> float | None:
    rel = _relevant(qrels)
    if not rel:
        return None
    hits = 0
    total = 0.0
    for i, d in enumerate(_unique(ranking), start=1):
        if d in rel:
            hits += 1
            total += hits / i
    return total / len(rel)


def recall_curve(ranking: Sequence[D], qrels: Mapping[D, int], max_k: int) -> list[float] | None:
    """Recall@k for k = 1..max_k (index 0 is Recall@1), or None without relevant docs."""
    _check_k(max_k)
    rel = _relevant(qrels)
    if not rel:
        return None
    top = _unique(ranking)[:max_k]
    out: list[float] = []
    found = 0
    for i in range(max_k):
        if i < len(top) and top[i] in rel:
            found += 1
        out.append(found / len(rel))
    return out


# The metric set the evaluation reports: name -> function(ranking, qrels).
STANDARD_METRICS = {
    "nDCG@10": lambda r, q: ndcg_at_k(r, q, 10),
    "MRR@10": lambda r, q: mrr_at_k(r, q, 10),
    "Recall@10": lambda r, q: recall_at_k(r, q, 10),
    "Recall@100": lambda r, q: recall_at_k(r, q, 100),
    "MAP": average_precision,
}


@dataclass
class MeanMetrics:
    """Means over the queries that have at least one relevant doc.

    ``evaluated`` queries entered the means; ``no_relevant`` lists the query ids left out.
    With no evaluable query at all every mean is ``None``.
    """

    means: dict[str, float | None]
    evaluated: int
    no_relevant: list[str] = field(default_factory=list)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)


def mean_metrics(
    runs: Mapping[str, Sequence[D]],
    qrels: Mapping[str, Mapping[D, int]],
    metrics: Mapping[str, object] | None = None,
) -> MeanMetrics:
    """Per-query metrics for every query id in ``runs`` and their means.

    A query id missing from ``qrels`` has no judgements: like one whose judgements are all
    non-relevant it is listed in ``no_relevant`` and left out of the means.
    """
    metrics = metrics or STANDARD_METRICS
    per_query: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for qid, ranking in runs.items():
        judged = qrels.get(qid, {})
        if not _relevant(judged):
            skipped.append(qid)
            continue
        per_query[qid] = {name: fn(ranking, judged) for name, fn in metrics.items()}  # type: ignore[operator]
    n = len(per_query)
    means: dict[str, float | None] = {
        name: (sum(v[name] for v in per_query.values()) / n if n else None) for name in metrics
    }
    return MeanMetrics(means=means, evaluated=n, no_relevant=skipped, per_query=per_query)
