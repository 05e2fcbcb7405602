"""Tantivy queries of the lexical index: plain-text BM25 queries and filters.

A plain-text query is one flat disjunction of term queries, ``title:t`` (boosted by the
analysis's ``title_boost``) and ``abstract:t`` for each query term ``t``: BM25 summed over
the terms and both fields, evaluated by Tantivy with block-max WAND top-k pruning. Filters
are required clauses of constant score 0, so they select documents without changing any
score: filtered results are the exact BM25 ranking of the documents that pass. An expanded
query (pseudo-relevance feedback) keeps a query's match set and adds weighted term clauses
to its scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import tantivy

from indexer.filters import Filters
from indexer.lexical.analysis import Analysis
from indexer.lexical.schema import key, mesh_key

Occur = tantivy.Occur


def text_query(schema: tantivy.Schema, terms: list[str], analysis: Analysis) -> tantivy.Query:
    """BM25 over title (boosted) and abstract for ``terms`` (index terms; may be empty)."""
    clauses = _term_clauses(schema, {t: 1.0 for t in terms}, analysis)
    if not clauses:
        return tantivy.Query.empty_query()
    return tantivy.Query.boolean_query(clauses)


def expanded(
    schema: tantivy.Schema, query: tantivy.Query, terms: Mapping[str, float], analysis: Analysis
) -> tantivy.Query:
    """``query``'s matches ranked by its score plus, for each expansion term ``t`` of
    ``terms``, ``terms[t]`` x its BM25 over title (boosted) and abstract: the terms add to the
    scores of ``query``'s matches, never to the match set."""
    clauses = _term_clauses(schema, terms, analysis)
    if not clauses:
        return query
    return tantivy.Query.boolean_query([(Occur.Must, query), *clauses])


def _term_clauses(
    schema: tantivy.Schema, terms: Mapping[str, float], analysis: Analysis
) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    """``title:t`` and ``abstract:t`` as should-clauses, boosted by the term's weight (and
    title matches by ``title_boost``)."""
    clauses = []
    for t, w in terms.items():
        title = tantivy.Query.term_query(schema, "title", t, index_option="freq")
        abstract = tantivy.Query.term_query(schema, "abstract", t, "freq")
        for q, boost in ((title, w * analysis.title_boost), (abstract, w)):
            clauses.append(
                (Occur.Should, q if boost == 1.0 else tantivy.Query.boost_query(q, boost))
            )
    return clauses


def citing(schema: tantivy.Schema, pmid: int) -> tantivy.Query:
    """The articles whose reference lists cite ``pmid``."""
    return _term(schema, "cites", str(int(pmid)))


def coupling(schema: tantivy.Schema, pmids: Iterable[int]) -> tantivy.Query | None:
    """BM25 over the ``cites`` field: articles sharing references with the list ``pmids``
    (bibliographic coupling; a rarely cited shared reference weighs more); None if empty."""
    terms = [str(int(p)) for p in dict.fromkeys(pmids)]
    if not terms:
        return None
    return tantivy.Query.boolean_query(
        [(Occur.Should, tantivy.Query.term_query(schema, "cites", t, "freq")) for t in terms]
    )


def with_pmids(schema: tantivy.Schema, pmids: Iterable[int]) -> tantivy.Query:
    """The articles whose PMID is one of ``pmids``."""
    return tantivy.Query.term_set_query(schema, "pmid", sorted({int(p) for p in pmids}))


def with_links(schema: tantivy.Schema, kinds: Iterable[str], pubtype: str) -> tantivy.Query:
    """Articles with a CommentsCorrections link of one of ``kinds``, or of ``pubtype``."""
    clauses = [(Occur.Should, _term(schema, "links", key(k))) for k in kinds]
    clauses.append((Occur.Should, _term(schema, "pubtype", key(pubtype))))
    return tantivy.Query.boolean_query(clauses)


def _term(schema: tantivy.Schema, field: str, value: object) -> tantivy.Query:
    return tantivy.Query.term_query(schema, field, value, index_option="basic")


def filter_clauses(
    schema: tantivy.Schema, filters: Filters | None, embeddable: bool = False
) -> list[tantivy.Query]:
    """One query per given filter (all must hold); ``embeddable``: only articles with vectors."""
    if filters is None and not embeddable:
        return []
    f = filters or Filters()
    out: list[tantivy.Query] = []
    if f.year_from is not None or f.year_to is not None:
        out.append(
            tantivy.Query.range_query(
                schema, "year", tantivy.FieldType.Integer, f.year_from, f.year_to
            )
        )
    if f.journal:
        out.append(_term(schema, "journal", key(f.journal)))
    if f.mesh:
        out.append(_term(schema, "mesh", mesh_key(f.mesh)))
    if f.pubtype:
        out.append(_term(schema, "pubtype", key(f.pubtype)))
    if f.has_abstract is not None:
        out.append(_term(schema, "has_abstract", int(bool(f.has_abstract))))
    if embeddable:
        out.append(_term(schema, "embeddable", 1))
    return out


def restrict(query: tantivy.Query | None, clauses: list[tantivy.Query]) -> tantivy.Query:
    """``query`` (None: every document) restricted by ``clauses`` without changing scores."""
    if not clauses:
        return query if query is not None else tantivy.Query.all_query()
    parts = [(Occur.Must, tantivy.Query.const_score_query(c, 0.0)) for c in clauses]
    if query is not None:
        parts.insert(0, (Occur.Must, query))
    return tantivy.Query.boolean_query(parts)


def exclude(schema: tantivy.Schema, query: tantivy.Query, doc_ids: Iterable[int]) -> tantivy.Query:
    """``query`` without the documents ``doc_ids`` (scores unchanged)."""
    ids = sorted({int(d) for d in doc_ids})
    if not ids:
        return query
    gone = tantivy.Query.term_set_query(schema, "doc_id", ids)
    return tantivy.Query.boolean_query([(Occur.Must, query), (Occur.MustNot, gone)])
