"""The one JSON shape of a page of results: what ``/api/search`` returns, what the web UI
renders and what ``pubmed-search query --json`` prints.

:func:`page_dict` turns a :class:`~search.results.SearchResponse` into plain JSON-ready
types (no NaN or infinity; snippets as text plus ``[start, end)`` highlight offsets).
"""

from __future__ import annotations

import math
from typing import Any

from search.params import MAX_DEPTH, MAX_PAGE
from search.results import Hit, SearchResponse

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


def pubmed_url(pmid: int) -> str:
    return PUBMED_URL.format(pmid=int(pmid))


def _number(value: float) -> float:
    """JSON has no NaN / infinity; a score that is not finite becomes 0."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else 0.0


def result_dict(hit: Hit) -> dict[str, Any]:
    return {
        "rank": hit.rank,
        "pmid": hit.pmid,
        "score": _number(hit.score),
        "title": hit.title,
        "journal": hit.journal,
        "year": hit.year,
        "authors": list(hit.authors),
        "doi": hit.doi,
        "mesh": list(hit.mesh),
        "snippet": hit.snippet.text,
        "highlights": [[int(s), int(e)] for s, e in hit.snippet.highlights],
        "url": pubmed_url(hit.pmid),
        "citation": hit.citation,
        **hit.mark.to_dict(),
        "cited_by": hit.cited_by,
        "passage": None if hit.passage is None else hit.passage.to_dict(),
    }


def has_next(response: SearchResponse) -> bool:
    """Whether a next page may hold results and a request may ask for it (MAX_PAGE,
    MAX_DEPTH)."""
    k, page = response.k, response.page
    if len(response.hits) < k:
        return False
    if page >= MAX_PAGE or (page + 1) * k > MAX_DEPTH:
        return False
    # hybrid's total counts full-text matches only; its dense side ranks every article
    exact_total = response.mode != "hybrid" and response.total is not None
    return not exact_total or page * k < response.total  # type: ignore[operator]


def page_dict(response: SearchResponse) -> dict[str, Any]:
    return {
        "ok": True,
        "query": response.query,
        "mode": response.mode,
        "page": response.page,
        "k": response.k,
        "total": response.total,
        "has_next": has_next(response),
        "took_ms": round(float(response.took_ms), 3),
        "reranked": bool(response.reranked),
        "rerank_ms": None if response.rerank_ms is None else round(float(response.rerank_ms), 3),
        "model": response.model,
        "version": response.version,
        "filters": dict(response.filters),
        "syntax": response.syntax,
        "prf": bool(response.prf),
        "facets": None if response.facets is None else response.facets.to_dict(),
        "results": [result_dict(h) for h in response.hits],
    }
