"""Articles similar to one article: by its vector, by citations, or both fused."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from indexer.filters import Filters
from indexer.fusion import reciprocal_rank_fusion
from search import graph
from search.dense import selected_top
from search.hits import build_hits
from search.results import NotFound, SearchResponse
from search.state import Selection

if TYPE_CHECKING:
    from search.state import IndexState


def similar_to(
    state: IndexState,
    pmid: int,
    k: int,
    filters: Filters | None,
    page: int,
    knobs: dict[str, int | None],
    passages: bool,
    by: str,
    started: float | None = None,
) -> SearchResponse:
    """``SearchEngine.similar`` on ``state`` with checked parameters (``started``: when the
    request began, for ``took_ms``)."""
    started = time.perf_counter() if started is None else started
    doc = graph.stored(state, pmid)
    first = (page - 1) * k
    selection = Selection(filters) if filters is not None else None
    ranked: list[tuple[int, float]] = []
    total = 0
    if by != "citations":
        q = np.asarray(state.vectors.read(np.array([doc.doc_id], dtype=np.int64)))[0]
        if not doc.article.embeddable or not np.any(q):
            raise NotFound(f"PMID {pmid} has no vector (it has neither title nor abstract)")
        ranked, total = selected_top(
            state, q, first + k, selection, exclude=doc.doc_id, knobs=knobs
        )
    if by != "text":
        cited = graph.citation_ranking(state, doc, selection, first + k)
        ranked = reciprocal_rank_fusion([ranked, cited]) if by == "both" else cited
        total = total if by == "both" else len(cited)
    finder = state.passage_finder() if passages else None
    hits = build_hits(state, ranked[first : first + k], doc.article.title, first + 1, finder)
    return SearchResponse(
        query=f"similar:{int(pmid)}",
        mode="similar",
        k=k,
        page=page,
        total=int(total),
        took_ms=(time.perf_counter() - started) * 1000,
        model=state.manifest.encoder.model,
        hits=hits,
        version=state.version,
        filters=filters.as_dict() if filters else {},
    )
