"""The citation graph inside one index version: references, cited-by, citation similarity.

An article's references are the PMIDs of its ReferenceList (``Article.references``); the
lexical index holds them per article (the ``cites`` field) beside each article's ``pmid``,
so at a version:

- **references** of A: the articles of the version whose PMID A cites, in A's order;
- **cited by** A: the articles of the version whose ``cites`` holds A's PMID, newest first;
- **citation similarity** to A: articles linked to A (citing it or cited by it) and articles
  sharing references with it (bibliographic coupling, BM25 over ``cites``: a shared
  reference that few articles cite weighs more), fused by reciprocal rank.

Filters and the advanced selection apply to all three; a new article citing an old one is in
the old one's cited-by from the version that adds it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import tantivy

from indexer.fusion import reciprocal_rank_fusion
from indexer.lexical.query import citing, coupling, restrict, with_pmids
from search.hits import build_hits
from search.results import NotFound, SearchResponse

if TYPE_CHECKING:
    from indexer.filters import Filters
    from indexer.store import StoredArticle
    from search.state import IndexState, Selection

Ranked = list[tuple[int, float]]
RELATIONS = ("references", "cited_by")


def _both(state: IndexState, query: tantivy.Query, selection: Selection | None) -> tantivy.Query:
    """``query`` among the articles of ``selection`` (scores unchanged)."""
    return restrict(query, [state.select(selection, False)] if selection is not None else [])


def stored(state: IndexState, pmid: int) -> StoredArticle:
    doc = state.store.doc_for_pmid(int(pmid), state.version)
    if doc is None:
        raise NotFound(f"PMID {pmid} is not in the index (version {state.version})")
    return doc


def references(state: IndexState, doc: StoredArticle, selection: Selection | None) -> Ranked:
    """The articles of the version that ``doc`` cites, in its reference order (score: 1 /
    position in the reference list)."""
    refs = list(dict.fromkeys(doc.article.references))
    if not refs:
        return []
    within = state.select(selection, False) if selection is not None else None
    by_pmid = state.lexical.doc_ids_of(refs, within)
    return [(by_pmid[p], 1.0 / (i + 1)) for i, p in enumerate(refs) if p in by_pmid]


def cited_by(
    state: IndexState, doc: StoredArticle, selection: Selection | None, n: int, offset: int = 0
) -> tuple[Ranked, int]:
    """Ranks ``[offset, offset + n)`` of the articles citing ``doc``, newest first (score:
    the publication year), and how many there are."""
    q = _both(state, citing(state.lexical.schema, doc.article.pmid), selection)
    return state.lexical.run_newest(q, n, offset)


def coupled(state: IndexState, doc: StoredArticle, selection: Selection | None, n: int) -> Ranked:
    """The ``n`` articles sharing the most (and the rarest) references with ``doc``."""
    q = coupling(state.lexical.schema, doc.article.references)
    if q is None:
        return []
    hits, _ = state.lexical.run(_both(state, q, selection), n + 1)
    return [(d, s) for d, s in hits if d != doc.doc_id][:n]


def citation_ranking(
    state: IndexState, doc: StoredArticle, selection: Selection | None, n: int
) -> Ranked:
    """Citation similarity to ``doc`` (see the module docstring): the direct links (citing
    articles, then references) and the coupling ranking, fused by reciprocal rank."""
    linked = [d for d, _ in cited_by(state, doc, selection, n)[0]]
    linked += [d for d, _ in references(state, doc, selection)[:n]]
    direct = [(d, 1.0) for d in dict.fromkeys(linked) if d != doc.doc_id]
    lists = [lst for lst in (direct, coupled(state, doc, selection, n)) if lst]
    if not lists:
        return []
    return reciprocal_rank_fusion(lists)[:n]


def standing(state: IndexState, doc: StoredArticle) -> dict:
    """What the article page shows beside the record: its retraction / concern marks, how
    many articles of the version cite it and how many of its references the version holds."""
    refs = list(dict.fromkeys(doc.article.references))
    held = state.lexical.count(with_pmids(state.lexical.schema, refs)) if refs else 0
    return {
        **state.marks().of(doc.doc_id).to_dict(),
        "cited_by": state.lexical.count(citing(state.lexical.schema, doc.article.pmid)),
        "references_in_index": held,
    }


def page(
    state: IndexState,
    relation: str,
    pmid: int,
    k: int,
    page_number: int,
    selection: Selection | None,
    filters: Filters | None,
) -> SearchResponse:
    """One page of the references or the citing articles of ``pmid``."""
    started = time.perf_counter()
    doc = stored(state, pmid)
    first = (page_number - 1) * k
    if relation == "references":
        every = references(state, doc, selection)
        ranked, total = every[first : first + k], len(every)
    else:
        ranked, total = cited_by(state, doc, selection, k, first)
    return SearchResponse(
        query=f"{relation}:{int(pmid)}",
        mode=relation,
        k=k,
        page=page_number,
        total=int(total),
        took_ms=(time.perf_counter() - started) * 1000,
        model="citations",
        hits=build_hits(state, ranked, doc.article.title, first + 1),
        version=state.version,
        filters=filters.as_dict() if filters else {},
    )
