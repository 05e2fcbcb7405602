"""Pseudo-relevance feedback: a second retrieval from what the first one found (``prf``).

The first pass's top :attr:`Feedback.docs` articles are taken as relevant (in hybrid mode the
fused top, for both sides; else the mode's own).

- **Lexical, RM3** (Lavrenko and Croft's relevance model 1, interpolated with the query as
  Anserini's RM3 does): ``P(w|R) = sum_d P(w|d) * s_d / sum_d s_d`` over the feedback
  articles' index terms (title and abstract as the index analyses them; ``s_d``: the
  first-pass score), the :attr:`Feedback.terms` most probable terms (two characters or more,
  not all digits) renormalised, then ``query_weight`` x the query (each of its ``n`` terms
  ``1/n``) + ``(1 - query_weight)`` x the expansion. The expansion re-ranks the query's own
  matches and never adds to them, so totals, facets and filters are those of the query as
  typed.
- **Dense, Rocchio**: ``q' = q + beta * mean(v_d)`` over the feedback articles' stored
  vectors, scaled back to ``|q|``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tantivy

    from search.state import IndexState

Ranked = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Feedback:
    """How many first-pass articles feed back, and how much they weigh."""

    docs: int = 3  # feedback articles
    terms: int = 20  # RM3 expansion terms
    query_weight: float = 0.7  # RM3: the typed query's share of the expanded query
    beta: float = 0.5  # Rocchio: the feedback centroid's weight beside the query vector

    def __post_init__(self) -> None:
        if self.docs < 1 or self.terms < 1:
            raise ValueError(f"feedback docs and terms must be >= 1: {self}")
        if not 0.0 < self.query_weight <= 1.0 or self.beta < 0.0:
            raise ValueError(f"feedback weights out of range: {self}")


DEFAULT_FEEDBACK = Feedback()
"""The best of ``bench/fusion.py``'s grid (feedback articles 3/10, terms 10/20, query weight
0.5/0.7, beta 0.5/1) on the dev tasks for calibrated hybrid with feedback (mean nDCG@10 and
MRR@10 0.790; Anserini's RM3 defaults, 10/10/0.5, 0.779); calibrated hybrid without
feedback scores 0.792, so ``prf`` is off by default."""


def relevance_model(
    state: IndexState, ranked: Ranked, feedback: Feedback = DEFAULT_FEEDBACK
) -> dict[str, float]:
    """RM3's expansion terms of the feedback articles, weights summing to 1 (may be empty)."""
    top = list(ranked[: feedback.docs])
    docs = state.store.get_docs([d for d, _ in top])
    total = sum(max(s, 0.0) for d, s in top if d in docs)
    model: Counter[str] = Counter()
    for d, score in top:
        doc = docs.get(d)
        if doc is None:
            continue
        terms = state.lexical.terms_of(f"{doc.article.title}\n{doc.article.abstract}")
        weight = max(score, 0.0) / total if total > 0 else 1.0 / len(top)
        if not terms or weight == 0.0:
            continue
        for t, n in Counter(terms).items():
            model[t] += weight * n / len(terms)
    kept = [(t, p) for t, p in model.most_common() if len(t) >= 2 and not t.isdigit()]
    kept = kept[: feedback.terms]
    mass = sum(p for _, p in kept)
    return {t: p / mass for t, p in kept} if mass > 0 else {}


def expand_lexical(
    state: IndexState,
    query: tantivy.Query,
    text: str,
    ranked: Ranked,
    feedback: Feedback = DEFAULT_FEEDBACK,
) -> tantivy.Query:
    """``query`` (the request's match query; ``text``: its free text) expanded by RM3 from
    the feedback articles of ``ranked``."""
    model = relevance_model(state, ranked, feedback)
    if not model or feedback.query_weight == 1.0:
        return query
    # query_weight * (1/n per query term) : (1 - query_weight) * P(w|R), scaled so the query's
    # own terms keep weight 1 (its scores as they were).
    n = max(len(state.lexical.query_terms(text)), 1)
    scale = (1.0 - feedback.query_weight) / feedback.query_weight * n
    return state.lexical.expanded(query, {t: p * scale for t, p in model.items()})


def rocchio(
    state: IndexState, q: np.ndarray, ranked: Ranked, feedback: Feedback = DEFAULT_FEEDBACK
) -> np.ndarray:
    """The query vector moved toward the feedback articles' centroid (same length as ``q``)."""
    ids = np.array([d for d, _ in ranked[: feedback.docs]], dtype=np.int64)
    if not len(ids) or feedback.beta == 0.0:
        return q
    vectors = np.asarray(state.vectors.read(ids), dtype=np.float32)
    vectors = vectors[np.any(vectors != 0, axis=1)]  # articles without a vector
    if not len(vectors):
        return q
    moved = np.asarray(q, dtype=np.float32) + feedback.beta * vectors.mean(axis=0)
    norm, length = float(np.linalg.norm(moved)), float(np.linalg.norm(q))
    return (moved * (length / norm)).astype(np.float32) if norm > 0 else q
