"""Batch retrieval: many searches answered together, their query vectors computed in one
forward pass of the query encoder.

:func:`search_many` first works out, for every request that ranks by meaning (dense and
hybrid modes), the text the engine embeds (the query, or the free-text terms of a
``syntax="pubmed"`` expression: :func:`dense_text`), embeds the distinct texts not yet cached
in one padded batch (``QueryEmbedder.embed_many``), then runs each search, which finds its
vector in the engine's query cache. Each request succeeds or fails on its own: the result
list holds a :class:`SearchResponse` or the exception that request raised.

The vectors wait in the engine's LRU query cache (``cache_size``, default 1024) between the
two steps, so a batch larger than that cache re-embeds the evicted queries one at a time
(correct, only slower); :data:`MAX_BATCH` is far below the default.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from indexer.errors import PubmedSearchError
from search.params import check_query, check_syntax
from search.results import SearchResponse
from search.state import expression_text

if TYPE_CHECKING:
    from search.engine import SearchEngine

log = logging.getLogger(__name__)

MAX_BATCH = 64
"""The most searches one batch may hold (``POST /api/search/batch``)."""
EMBEDDED_MODES = ("dense", "hybrid")


def dense_text(request: Mapping[str, Any]) -> str | None:
    """The text ``SearchEngine.search(**request)`` embeds; None when it embeds nothing
    (lexical mode) or the request is invalid (its search then reports why)."""
    if request.get("mode", "hybrid") not in EMBEDDED_MODES:
        return None
    try:
        query = check_query(request.get("query"))
        expression = check_syntax(request.get("syntax", "plain"), query)
        return expression_text(expression) if expression is not None else query
    except (PubmedSearchError, ValueError):
        return None


def search_many(
    engine: SearchEngine, requests: Sequence[Mapping[str, Any]]
) -> list[SearchResponse | Exception]:
    """``engine.search(**r)`` for each of ``requests`` (keyword-argument mappings), in order;
    an exception a search raises takes its place in the list."""
    texts = [t for t in map(dense_text, requests) if t is not None]
    if texts:
        engine.state.embedder.embed_many(list(dict.fromkeys(texts)))
    out: list[SearchResponse | Exception] = []
    for request in requests:
        try:
            out.append(engine.search(**request))
        except Exception as e:  # one bad request must not sink the batch
            if not isinstance(e, PubmedSearchError):
                log.exception("batch search %r failed", request.get("query"))
            out.append(e)
    return out
