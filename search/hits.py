"""Turning ranked doc ids into result hits: stored metadata, a query-biased snippet and, when
asked for, the best passage (``search.passages``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from indexer.lexical.query import citing
from search.citation import vancouver
from search.results import Hit
from search.snippets import make_snippet

if TYPE_CHECKING:
    from search.passages import PassageFinder
    from search.state import IndexState

log = logging.getLogger(__name__)


def build_hits(
    state: IndexState,
    ranked: list[tuple[int, float]],
    query: str,
    first_rank: int,
    passages: PassageFinder | None = None,
) -> list[Hit]:
    """Hits for ``ranked`` (doc id, score) pairs of version ``state``, numbered from
    ``first_rank``, each with its retraction standing and how many articles of the version
    cite it; with ``passages``, each with its best passage for ``query``
    (``search.passages``)."""
    if not ranked:
        return []
    docs = state.store.get_docs([d for d, _ in ranked])
    marks = state.marks()
    found = [(doc_id, score, docs.get(doc_id)) for doc_id, score in ranked]
    for doc_id, _, doc in found:
        if doc is None:  # cannot happen for a consistent version; never crash a page
            log.warning("doc id %d is ranked but not in the store", doc_id)
    found = [(d, s, doc) for d, s, doc in found if doc is not None]
    picked = (
        passages.best_many(
            [(doc.article.abstract, doc.article.sections) for *_, doc in found], query
        )
        if passages is not None
        else [None] * len(found)
    )
    hits: list[Hit] = []
    for (doc_id, score, doc), passage in zip(found, picked, strict=True):
        a = doc.article
        hits.append(
            Hit(
                rank=first_rank + len(hits),
                pmid=a.pmid,
                score=float(score),
                title=a.title,
                journal=a.journal,
                year=a.year,
                authors=list(a.authors),
                doi=a.doi,
                mesh=[m.name for m in a.mesh],
                snippet=make_snippet(a.abstract, query),
                doc_id=int(doc_id),
                passage=passage,
                citation=vancouver(a),
                mark=marks.of(doc_id),
                cited_by=state.lexical.count(citing(state.lexical.schema, a.pmid)),
            )
        )
    return hits
