"""The lexical index's fields: one Tantivy document per visible article revision.

=================  ===============================================================
field              content
=================  ===============================================================
``doc_id``         the store's doc id (u64, indexed + fast): results, deletes
``title``          title text, analysed (``analysis``), positions (phrases)
``abstract``       abstract text (all sections), analysed, positions
``year``           publication year (i64, indexed + fast); absent when unknown
``journal``        journal title and ISO abbreviation, lower-cased, raw terms
``mesh``           MeSH descriptor names (lower-cased) and UIs (``D001249``), raw
``majr``           the same for major-topic descriptors only
``pubtype``        publication types, lower-cased, raw
``author``         authors, lower-cased, raw (``smith ja``)
``language``       language codes, lower-cased, raw (``eng``)
``pmid``           the article's PMID (u64, indexed + fast): references, notices
``cites``          the PMIDs its ReferenceList cites (raw, with frequencies): cited-by,
                   and citation similarity (BM25 over shared references)
``links``          kinds of its retraction / expression-of-concern links (raw, lower-case
                   RefType: ``retractionin``, ``retractionof``, ...): finds notices fast
``has_abstract``   1 / 0 (u64, indexed + fast)
``embeddable``     1 / 0: the article has a vector (dense filters count these)
``journal_name``,  display values for facets (fast, raw, as written)
``mesh_name``,
``pubtype_name``
=================  ===============================================================

Filters and the advanced syntax are term, range and phrase queries over these fields, so
they are evaluated by the engine itself; nothing is stored (the store holds the records).
"""

from __future__ import annotations

import re

import tantivy

from indexer.lexical.analysis import TOKENIZER_NAME
from indexer.records import Article

TEXT_FIELDS = ("title", "abstract")
RAW_FIELDS = ("journal", "mesh", "majr", "pubtype", "author", "language", "links")
STATUS_LINKS = (
    "RetractionIn",
    "RetractionOf",
    "RetractedandRepublishedIn",
    "RetractedandRepublishedFrom",
    "ExpressionOfConcernIn",
    "ExpressionOfConcernFor",
)
"""CommentsCorrections kinds that change an article's standing (``search.retractions``)."""
FACET_FIELDS = ("journal_name", "mesh_name", "pubtype_name")
MESH_UI = re.compile(r"D\d+")


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("doc_id", indexed=True, fast=True)
    sb.add_unsigned_field("pmid", indexed=True, fast=True)
    sb.add_text_field("cites", tokenizer_name="raw", index_option="freq")
    for name in TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name=TOKENIZER_NAME, index_option="position")
    sb.add_integer_field("year", indexed=True, fast=True)
    for name in RAW_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in ("has_abstract", "embeddable"):
        sb.add_unsigned_field(name, indexed=True, fast=True)
    for name in FACET_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic", fast=True)
    return sb.build()


def key(value: str) -> str:
    """A raw field's term for ``value``: NUL-free, trimmed, lower-cased."""
    return value.replace("\x00", "").strip().lower()


def mesh_key(value: str) -> str:
    """A ``mesh`` / ``majr`` term: a descriptor UI as written upper-case, else a name key."""
    v = value.replace("\x00", "").strip()
    return v.upper() if MESH_UI.fullmatch(v.upper()) else v.lower()


def document(doc_id: int, a: Article) -> tantivy.Document:
    """The Tantivy document of stored revision ``doc_id`` holding ``a``."""
    d = tantivy.Document()
    d.add_unsigned("doc_id", int(doc_id))
    d.add_unsigned("pmid", int(a.pmid))
    for cited in dict.fromkeys(a.references):
        d.add_text("cites", str(int(cited)))
    for kind in {c.ref_type for c in a.comments_corrections if c.ref_type in STATUS_LINKS}:
        d.add_text("links", key(kind))
    d.add_text("title", a.title)
    abstract = a.abstract
    d.add_text("abstract", abstract)
    if a.year is not None:
        d.add_integer("year", int(a.year))
    for journal in {key(j) for j in (a.journal, a.journal_iso) if j.strip()}:
        d.add_text("journal", journal)
    if a.journal.strip():
        d.add_text("journal_name", a.journal.strip())
    for m in a.mesh:
        names = {mesh_key(m.name)} | ({m.ui.strip().upper()} if m.ui else set())
        for term in names:
            d.add_text("mesh", term)
            if m.major:
                d.add_text("majr", term)
        d.add_text("mesh_name", m.name.strip())
    for p in a.publication_types:
        d.add_text("pubtype", key(p))
        d.add_text("pubtype_name", p.strip())
    for au in a.authors:
        d.add_text("author", key(au))
    for lang in a.languages:
        if lang.strip():
            d.add_text("language", key(lang))
    d.add_unsigned("has_abstract", int(bool(abstract.strip())))
    d.add_unsigned("embeddable", int(a.embeddable))
    return d
