"""How an index's hybrid mode fuses its dense and lexical rankings: the recorded value and
its arithmetic (pure functions, no I/O).

A :class:`Fusion` belongs to the index format: the manifest records the one chosen for the
index (by ``indexer.build.calibrate`` or by hand), the engine applies it to every hybrid
query. Its arithmetic lives here, beside the value, because the build measures candidate
fusions with it before any engine exists (dependencies point web -> search -> indexer).

Methods, over ranked lists of ``(doc_id, score)`` pairs, best first, one per side:

``rrf``
    weighted reciprocal rank fusion, ``score(d) = sum_i w_i / (k_rrf + rank_i(d))``
    (1-based ranks; only each list's order matters).
``convex``
    a convex combination of scores min-max normalised per side over that side's own
    candidates, ``score(d) = sum_i w_i * (s_i(d) - min_i) / (max_i - min_i)``; a document
    absent from list ``i`` gets 0 from it (the bottom of that side), a list whose scores
    are all equal gives each of its documents 1.

Ties are broken by doc id (ascending) so a fused list is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from indexer.errors import InvalidParameter

K_RRF = 60
"""Cormack et al.'s constant: damps the weight of the very top ranks."""
DEPTH = 100
"""Candidates each side contributes (at least; a deep page takes more)."""
METHODS = ("rrf", "convex")
SIDES = ("dense", "lexical")

Ranked = Sequence[tuple[int, float]]
_WORD = re.compile(r"[^\W_]+")


def query_words(text: str) -> int:
    """Words (runs of letters and digits) in ``text``: what ``Fusion.min_words`` counts."""
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class Fusion:
    """One fusion of the (dense, lexical) rankings; ``chosen_by`` says where it came from.

    ``chosen_by``: ``"default"`` (nothing measured: today's equal-weight RRF, also what an
    index whose manifest predates fusion gets), ``"calibration"`` (measured at build time on
    the index's own title/abstract pairs; ``calibration`` holds the figures) or
    ``"request"`` (weights given with a query). ``calibration`` is free-form JSON: sample
    size, seed, the grid's MRR@10 per candidate, or why calibration was skipped.

    ``min_words``: the method and weights apply to queries of at least this many words
    (:func:`query_words`); shorter ones are fused by RRF (this ``k_rrf`` and ``depth``)
    with the dense side's share of the weight capped at one half: equal weights when
    dense is worth at least as much as lexical on long queries, less (none) when it is
    worth less (nothing). Calibration measures titles of 4+ words, so what it finds is
    recorded for such queries; a one- or two-word query is another kind of search, where
    dense retrieval is no better than on long ones (measured: on MeSH-name queries lexical
    leads MiniLM's dense side, on titles dense leads).
    """

    method: str = "rrf"
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    k_rrf: int = K_RRF
    depth: int = DEPTH
    chosen_by: str = "default"
    calibration: dict[str, Any] = field(default_factory=dict, compare=False)
    min_words: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameter(f"fusion method: one of {METHODS}, got {self.method!r}")
        weights = (self.dense_weight, self.lexical_weight)
        if any(not isinstance(w, int | float) or not 0 <= w < float("inf") for w in weights):
            raise InvalidParameter(f"fusion weights: finite and >= 0, got {weights}")
        if sum(weights) == 0:
            raise InvalidParameter("fusion weights: not both 0")
        if isinstance(self.k_rrf, bool) or not isinstance(self.k_rrf, int) or self.k_rrf < 0:
            raise InvalidParameter(f"k_rrf: an integer >= 0, got {self.k_rrf!r}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise InvalidParameter(f"fusion depth: an integer >= 1, got {self.depth!r}")
        if not isinstance(self.min_words, int) or self.min_words < 0:
            raise InvalidParameter(f"fusion min_words: an integer >= 0, got {self.min_words!r}")

    @property
    def weights(self) -> tuple[float, float]:
        """(dense, lexical)."""
        return (float(self.dense_weight), float(self.lexical_weight))

    def with_weights(self, dense: float, lexical: float) -> Fusion:
        """The same fusion with a request's weights (``chosen_by="request"``), for every
        query length."""
        return replace(
            self, dense_weight=dense, lexical_weight=lexical, chosen_by="request", min_words=0
        )

    def for_query(self, text: str) -> Fusion:
        """The fusion a query of ``text`` gets: this one, or equal-weight RRF below
        ``min_words`` words."""
        if self.min_words and query_words(text) < self.min_words:
            dense, lexical = self.weights
            share = min(0.5, dense / (dense + lexical))
            return Fusion("rrf", share, 1.0 - share, self.k_rrf, self.depth, "short query")
        return self

    def fuse(self, dense: Ranked, lexical: Ranked) -> list[tuple[int, float]]:
        """The fused ranking of one query's two candidate lists."""
        if self.method == "rrf":
            return reciprocal_rank_fusion([dense, lexical], self.weights, self.k_rrf)
        return convex_combination([dense, lexical], self.weights)

    def describe(self) -> str:
        """One line for people: ``convex, dense 0.3 / lexical 0.7, depth 100 (calibration)``."""
        short = (
            f"; queries under {self.min_words} words: {self.for_query('').describe_weights()}"
            if self.min_words
            else ""
        )
        return f"{self.describe_weights()}, depth {self.depth} ({self.chosen_by}){short}"

    def describe_weights(self) -> str:
        k = f", k {self.k_rrf}" if self.method == "rrf" else ""
        return f"{self.method}, dense {self.dense_weight:g} / lexical {self.lexical_weight:g}{k}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Fusion:
        """The recorded fusion; None (a manifest written before fusion was recorded): the
        default, equal-weight RRF with k = 60."""
        if d is None:
            return cls()
        try:
            return cls(**dict(d))
        except TypeError as e:
            raise InvalidParameter(f"fusion: not a fusion record ({e})") from e


DEFAULT_FUSION = Fusion()


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
    """Weighted RRF: ``score(d) = sum_i w_i / (k_rrf + rank_i(d))``.

    ``rank_i(d)`` is 1-based; a document absent from list ``i`` gets nothing from it. Only
    the order of each list matters, not its scores. A doc id repeated inside one list counts
    once, at its best rank. A side of weight 0 adds nothing, but its documents stay in the
    fused list (after every document of the other side).
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


def min_max(ranked: Ranked) -> dict[int, float]:
    """Each doc's score scaled to [0, 1] over this list (best first; a repeated doc id
    keeps its first, best, score); all-equal scores give 1."""
    best: dict[int, float] = {}
    for doc_id, score in ranked:
        best.setdefault(int(doc_id), float(score))
    if not best:
        return {}
    low, high = min(best.values()), max(best.values())
    span = high - low
    if not span > 0:
        return dict.fromkeys(best, 1.0)
    return {d: (s - low) / span for d, s in best.items()}


def convex_combination(
    lists: Sequence[Ranked], weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """``score(d) = sum_i w_i * minmax_i(d)`` (see the module docstring)."""
    w = _check_weights(lists, weights)
    fused: dict[int, float] = {}
    for weight, ranked in zip(w, lists, strict=True):
        for doc_id, value in min_max(ranked).items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * value
    return _sorted(fused)
