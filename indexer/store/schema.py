"""Tables of the metadata store (SQLAlchemy Core): ``meta`` and ``articles``.

One row of ``articles`` per stored *revision* of a citation (see docs/ARCHITECTURE.md, MVCC):
``doc_id`` is the FAISS id / ``vectors.f16`` row, ``added_in`` / ``removed_in`` are index
versions. Only what the store queries is a column: the PMID and its version (``apply``,
``doc_for_pmid``), the versions (visibility), ``content_hash`` (16 bytes, ``apply``),
``embeddable`` and ``has_abstract`` (``to_embed``, ``counts``). The rest of the article is
``data``, one compressed record (:mod:`indexer.store.codec`) that is only read back whole.
Searching and filtering are the lexical index's (``indexer/lexical/``), not the store's.

Indexes: ``(pmid, removed_in)`` for ``apply`` / ``doc_for_pmid``; ``(added_in, doc_id)`` for
``to_embed`` / ``to_index``, widened by the visibility columns so that ``count_to_embed``,
``counts`` and ``visible_embedded_ids`` read only the index (measured on pubmed20n0014: 14 ms
instead of 32 ms for +0.1 MB; a separate covering index is not needed); ``removed_in`` (partial:
only marked rows) for ``removed_doc_ids`` / ``removed_ids`` / ``gc``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

SCHEMA_VERSION = 3
"""1: text columns, MeSH / publication type tables, full text in the database. 2: lean rows.
3: the complete citation in the record (issue 17: dates, authors' details, grants, chemicals,
qualifiers, references, comments/corrections; ``languages`` a list)."""
FIRST_DOC_ID = 1
"""Doc ids start at 1, so ``to_embed(version, after_doc_id=0, ...)`` sees every row."""

# INTEGER PRIMARY KEY on SQLite makes doc_id the rowid (no second key b-tree).
DocId = BigInteger().with_variant(Integer(), "sqlite")
Flag = Boolean(create_constraint=False)
_VIS = ("removed_in", "embeddable", "has_abstract")
_REMOVED = text("removed_in IS NOT NULL")


def build_metadata() -> tuple[MetaData, Table, Table]:
    """(metadata, meta, articles); the same on SQLite and PostgreSQL."""
    md = MetaData()
    meta = Table(
        "meta",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    articles = Table(
        "articles",
        md,
        Column("doc_id", DocId, primary_key=True, autoincrement=False),
        Column("pmid", BigInteger, nullable=False),
        Column("pmid_version", Integer, nullable=False),
        Column("added_in", Integer, nullable=False),
        Column("removed_in", Integer, nullable=True),
        Column("content_hash", LargeBinary(16), nullable=False),
        Column("embeddable", Flag, nullable=False),
        Column("has_abstract", Flag, nullable=False),
        Column("data", LargeBinary, nullable=False),
        Index("ix_articles_pmid_removed", "pmid", "removed_in"),
        Index("ix_articles_added", "added_in", "doc_id", *_VIS),
        Index(
            "ix_articles_removed", "removed_in", sqlite_where=_REMOVED, postgresql_where=_REMOVED
        ),
    )
    return md, meta, articles
