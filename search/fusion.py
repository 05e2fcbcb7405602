"""Rank fusion of several ranked candidate lists (pure functions, no I/O).

:func:`reciprocal_rank_fusion` takes ranked lists of ``(doc_id, score)`` pairs, best first,
one list per retriever (e.g. dense and lexical), and returns one fused list
``[(doc_id, fused_score)]``, best first. Ties are broken by doc id (ascending) so the result
is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.errors import InvalidParameter

K_RRF = 60
"""Cormack et al.'s constant: damps the weight of the very top ranks."""

Ranked = Sequence[tuple[int, float]]


def _check_weights(lists: Sequence[Ranked], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(lists)
    if len(weights) != len(lists):
        raise InvalidParameter(f"weights: expected {len(lists)} values, got {len(weights)}")
    out = [float(w) for w in weights]
    if any(w < 0 or w != w for w in out):
        raise InvalidParameter(f"weights: must be non-negative numbers, got {list(weights)}")
    return out


def _sorted(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def reciprocal_rank_fusion(
    lists: Sequence[Ranked], weights: Sequence[float] | None = None, k_rrf: int = K_RRF
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: ``score(d) = sum_i w_i / (k_rrf + rank_i(d))``.

    ``rank_i(d)`` is 1-based; a document absent from list ``i`` gets nothing from it. Only
    the order of each list matters, not its scores. A doc id repeated inside one list counts
    once, at its best rank.
    """
    if k_rrf < 0:
        raise InvalidParameter(f"k_rrf: must be >= 0, got {k_rrf}")
    w = _check_weights(lists, weights)
    fused: dict[int, float] = {}
    for weight, ranked in zip(w, lists, strict=True):
        seen: set[int] = set()
        for rank, (doc_id, _score) in enumerate(ranked, start=1):
            doc_id = int(doc_id)
            if doc_id in seen:
                continue
            seen.add(doc_id)
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k_rrf + rank)
    return _sorted(fused)
