"""Dense retrieval over one index version: FAISS, exact scoring of subsets, exact re-scoring.

*Re-scoring* (``rescore``) is exact fp16 scoring of a lossy index's approximate candidates,
``rescore_depth`` of them (``indexer.vectors.types.RESCORE_DEPTH``, recorded in the index
parameters); it is not the cross-encoder *re-ranking* of ``search.rerank``.

Guarantee: when ``n`` candidates exist (in the whole index, or in a filtered subset), ``n``
are returned. An approximate index that comes back short (an IVF list too sparse for the
filtered subset, an HNSW graph cut off by the selector) falls back to exact scoring with
the stored fp16 vectors, which is always complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import faiss
import numpy as np

from indexer.vectors.types import RESCORE_DEPTH

if TYPE_CHECKING:
    from indexer.vectors import VectorFile, VectorIndex
    from search.state import IndexState, Selection

Knobs = dict[str, int | None]
"""Per-query FAISS search parameters (``nprobe``, ``ef_search``); None values are unset."""

EXACT_SUBSET_MAX = 500
"""Filtered sets up to this size are scored exactly from ``vectors.f16`` when the FAISS index
cannot score them exactly itself (IVF / IVF-PQ hold no vectors to reconstruct; Flat and HNSW
indexes (IDMap2) score small subsets exactly from their own vectors). Larger sets use the
FAISS selector, whose nprobe grows with the inverse selectivity (near-exhaustive for small
sets). Measured by ``bench/search.py --calibrate-only`` on the 100k collection (IVF1265,Flat,
2-core VM at load ~14), exact vs selector, p50: 300 ids 1.6 vs 11.6 ms; 1,000 ids 55 vs
16 ms; 10,000 ids 233 vs 37 ms (random fp16 rows: page faults and the fp16 -> fp32
conversion dominate)."""

EXACT_CHUNK = 65_536
RESCORE_FACTOR = 4
"""A lossy index (PQ / SQ codes) fetches max(rescore_depth, RESCORE_FACTOR * n) candidates and
re-scores them exactly with the stored vectors (see ``RESCORE_DEPTH``)."""


POSTFILTER_MARGIN = 1.5
POSTFILTER_MAX_FETCH = 8192
"""Large filtered sets are not materialised: FAISS fetches about ``MARGIN * n / selectivity``
unfiltered candidates (x4 more while too few pass, up to MAX_FETCH) and the store keeps those
that match. Sets too selective for that budget, or smaller than the candidates to check
(then listing the set costs less than checking them), go to :func:`dense_top` with the
subset. Measured on the bench's 100k collection (2-core VM at load ~14): checking 3,766
candidates 224 ms vs listing the 4,091 matching ids 140 ms; checking 233 candidates 15 ms
vs listing the 71,454 matching ids 510 ms."""


def _ranked(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    """(id, score) best first; equal scores by ascending id, so results are deterministic."""
    order = np.lexsort((ids, -scores))
    return [(int(ids[i]), float(scores[i])) for i in order]


def exact_top(
    vectors: VectorFile, ids: np.ndarray, q: np.ndarray, n: int
) -> list[tuple[int, float]]:
    """The ``n`` best of ``ids`` by inner product with ``q``, reading vectors in chunks."""
    ids = np.asarray(ids, dtype=np.int64)
    if n <= 0 or ids.size == 0:
        return []
    best_ids = np.empty(0, dtype=np.int64)
    best_scores = np.empty(0, dtype=np.float32)
    for start in range(0, ids.size, EXACT_CHUNK):
        chunk = ids[start : start + EXACT_CHUNK]
        scores = np.asarray(vectors.read(chunk), dtype=np.float32) @ q
        cand_ids = np.concatenate([best_ids, chunk])
        cand_scores = np.concatenate([best_scores, scores.astype(np.float32, copy=False)])
        if cand_ids.size > n:
            keep = np.argpartition(-cand_scores, n - 1)[:n]
            cand_ids, cand_scores = cand_ids[keep], cand_scores[keep]
        best_ids, best_scores = cand_ids, cand_scores
    return _ranked(best_ids, best_scores)


@contextmanager
def single_threaded() -> Iterator[None]:
    """One OpenMP thread for FAISS in this thread (restored after).

    A single query gains nothing from an OpenMP team (FAISS parallelises over queries), and
    teams of concurrent requests oversubscribe the cores: on the 2-core dev VM under load a
    20k-vector flat search took 126 ms with 2 threads and 23 ms with 1. The setting is
    per thread (libgomp ICV), so other threads (e.g. a build) keep theirs.
    """
    before = faiss.omp_get_max_threads()
    if before == 1:
        yield
        return
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _faiss_top(
    index: VectorIndex,
    q: np.ndarray,
    n: int,
    subset: np.ndarray | None,
    knobs: Knobs | None = None,
) -> list[tuple[int, float]]:
    knobs = {k: v for k, v in (knobs or {}).items() if v is not None}  # nprobe, ef_search
    with single_threaded():
        scores, ids = index.search(q.reshape(1, -1), n, subset_ids=subset, **knobs)
    scores, ids = np.asarray(scores).reshape(-1), np.asarray(ids).reshape(-1)
    valid = ids >= 0
    return _ranked(ids[valid].astype(np.int64), scores[valid].astype(np.float32))


def dense_top(
    index: VectorIndex,
    vectors: VectorFile,
    q: np.ndarray,
    n: int,
    *,
    subset: np.ndarray | None = None,
    all_ids: Callable[[], np.ndarray] | None = None,
    rescore: bool = False,
    rescore_depth: int = RESCORE_DEPTH,
    knobs: Knobs | None = None,
) -> list[tuple[int, float]]:
    """The ``n`` nearest articles to ``q`` (inner product), best first.

    ``rescore``: fetch ``max(rescore_depth, RESCORE_FACTOR * n)`` candidates and re-score them
    exactly (``rescore_depth``: the index's recorded depth, see
    ``indexer.vectors.rescore_depth``); ``knobs``: per-query ``nprobe`` / ``ef_search``.

    ``subset``: the only doc ids allowed (a filtered set), or None for the whole index.
    ``all_ids``: a callable giving every id in the index, used only by the exact fallback
    of an unfiltered search.
    """
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
    if n <= 0:
        return []
    if subset is not None:
        subset = np.asarray(subset, dtype=np.int64)
        available = int(subset.size)
        n = min(n, available)
        if n == 0:
            return []
        if available <= EXACT_SUBSET_MAX and not _scores_subsets_exactly(index):
            return exact_top(vectors, subset, q, n)
    else:
        available = int(index.ntotal)
        n = min(n, available)
        if n == 0:
            return []
    depth = max(rescore_depth, n * RESCORE_FACTOR)
    fetch = min(available, depth) if rescore else n
    found = _faiss_top(index, q, fetch, subset, knobs)
    if len(found) < n:  # the approximate index came back short: score exactly
        ids = subset if subset is not None else np.asarray(all_ids(), dtype=np.int64)
        return exact_top(vectors, ids, q, n)
    if rescore:
        cand = np.fromiter((d for d, _ in found), dtype=np.int64, count=len(found))
        return exact_top(vectors, cand, q, n)
    return found[:n]


def _scores_subsets_exactly(index: VectorIndex) -> bool:
    """Flat / HNSW indexes (IDMap2) reconstruct small subsets and score them exactly."""
    return str(getattr(index, "factory", "")).startswith("IDMap2")


def post_filtered_top(
    index: VectorIndex,
    vectors: VectorFile,
    q: np.ndarray,
    n: int,
    *,
    keep: Callable[[np.ndarray], np.ndarray],
    selectivity: float,
    rescore: bool = False,
    rescore_depth: int = RESCORE_DEPTH,
    max_fetch: int | None = None,
    knobs: Knobs | None = None,
) -> list[tuple[int, float]] | None:
    """The ``n`` nearest of a filtered set, from unfiltered FAISS candidates that ``keep``
    (ids -> the matching ids) accepts; None when the set is too selective for ``max_fetch``
    candidates to hold ``n`` of it (the caller then searches the materialised subset).

    Exact for a flat index: the top ``fetch`` of everything contain the top ``n`` of the
    set as soon as ``n`` of them match; as approximate as an unfiltered search otherwise.
    ``rescore``: the best ``max(n, rescore_depth)`` that match are re-scored exactly.
    """
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
    ntotal = int(index.ntotal)
    target = max(n, rescore_depth) if rescore else n
    max_fetch = POSTFILTER_MAX_FETCH if max_fetch is None else max_fetch
    if n <= 0 or selectivity <= 0 or ntotal == 0:
        return None
    fetch = math.ceil(target * POSTFILTER_MARGIN / min(1.0, selectivity)) + 16
    limit = min(max_fetch, ntotal)
    if fetch > limit and limit < ntotal:  # the budget covers neither the need nor the index
        return None
    if fetch > selectivity * ntotal and limit < ntotal:
        return None  # checking more candidates than the set holds: materialise the set instead
    fetch = min(fetch, limit)
    while True:
        found = _faiss_top(index, q, fetch, None, knobs)
        ids = np.fromiter((d for d, _ in found), dtype=np.int64, count=len(found))
        ok = np.isin(ids, keep(ids)) if len(ids) else np.zeros(0, bool)
        kept = [f for f, m in zip(found, ok.tolist(), strict=True) if m]
        if len(kept) >= target or fetch >= limit or len(found) < fetch:
            break
        fetch = min(limit, fetch * 4)
    if len(kept) < n:
        return None
    if rescore:  # the best ``target`` by approximate score, re-scored exactly
        cand = np.fromiter((d for d, _ in kept[:target]), dtype=np.int64)
        return exact_top(vectors, cand, q, n)
    return kept[:n]


def selected_top(
    state: IndexState,
    q: np.ndarray,
    n: int,
    selection: Selection | None,
    exclude: int | None = None,
    knobs: Knobs | None = None,
) -> tuple[list[tuple[int, float]], int]:
    """Top ``n`` of index version ``state`` by inner product among the articles of
    ``selection`` (without doc id ``exclude``), and the candidate count.

    Selections: small ones are scored exactly or searched with a FAISS selector
    (:func:`dense_top`); large ones post-filter FAISS candidates (:func:`post_filtered_top`),
    which never materialises the set.
    """
    if selection is None:
        total = int(state.index.ntotal)
        excluded = exclude is not None
    else:
        total = state.filter_count(selection)
        excluded = exclude is not None and len(state.matching(selection, [exclude])) > 0
    want = min(n + int(excluded), total)
    ranked = None
    if selection is not None and want > 0:
        ranked = post_filtered_top(
            state.index,
            state.vectors,
            q,
            want,
            keep=lambda ids: state.matching(selection, ids),
            selectivity=total / max(1, state.index.ntotal),
            rescore=state.rescore,
            rescore_depth=state.rescore_depth,
            knobs=knobs,
        )
    if ranked is None:
        ranked = dense_top(
            state.index,
            state.vectors,
            q,
            want,
            subset=None if selection is None else state.filter_subset(selection),
            all_ids=state.all_ids,
            rescore=state.rescore,
            rescore_depth=state.rescore_depth,
            knobs=knobs,
        )
    if exclude is not None:
        ranked = [(d, s) for d, s in ranked if d != exclude][:n]
    return ranked, max(0, total - int(excluded))
