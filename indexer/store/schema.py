"""Tables of the metadata store (SQLAlchemy Core) and the backend-specific full-text DDL.

One row of ``articles`` per stored *revision* of a citation (see docs/ARCHITECTURE.md, MVCC):
``doc_id`` is the FAISS id / ``vectors.f16`` row, ``added_in`` / ``removed_in`` are index
versions. ``article_mesh`` and ``article_pubtypes`` hold lower-cased filter keys so that
filters are index lookups; ``journal_lower`` / ``journal_iso_lower`` do the same for journals.

Full text over title + abstract:

- SQLite: an FTS5 table ``articles_fts`` with external content (``content='articles'``),
  kept in sync by triggers, tokenizer ``porter unicode61 remove_diacritics 2`` and the
  ``rank`` column configured as ``bm25(2.0, 1.0)`` (title hits weigh twice).
- PostgreSQL: a stored generated ``tsv`` column (english config, title weight A, abstract B)
  with a GIN index.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR

SCHEMA_VERSION = 1
VIS_INDEX = "ix_articles_vis"
"""SQLite: a narrow covering index (doc_id first) for visibility and the column filters, so
joins from FTS matches and filter scans never read the wide article rows."""
FIRST_DOC_ID = 1
"""Doc ids start at 1, so ``to_embed(version, after_doc_id=0, ...)`` sees every row."""

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
FTS_RANK = "bm25(2.0, 1.0)"
PG_TSV = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(abstract, '')), 'B')"
)

# INTEGER PRIMARY KEY on SQLite makes doc_id the rowid (what FTS5 content_rowid needs).
DocId = BigInteger().with_variant(Integer(), "sqlite")


def build_metadata(backend: str) -> tuple[MetaData, Table, Table, Table, Table]:
    """(metadata, meta, articles, article_mesh, article_pubtypes) for ``backend``."""
    md = MetaData()
    meta = Table(
        "meta",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    extra = []
    if backend == "postgresql":
        extra.append(Column("tsv", TSVECTOR, Computed(PG_TSV, persisted=True)))
    articles = Table(
        "articles",
        md,
        Column("doc_id", DocId, primary_key=True, autoincrement=False),
        Column("pmid", BigInteger, nullable=False),
        Column("pmid_version", Integer, nullable=False),
        Column("added_in", Integer, nullable=False),
        Column("removed_in", Integer, nullable=True),
        Column("content_hash", String(64), nullable=False),
        Column("title", Text, nullable=False),
        Column("abstract", Text, nullable=False),
        Column("sections", Text, nullable=False),
        Column("journal", Text, nullable=False),
        Column("journal_iso", Text, nullable=False),
        Column("journal_lower", Text, nullable=False),
        Column("journal_iso_lower", Text, nullable=False),
        Column("year", Integer, nullable=True),
        Column("authors", Text, nullable=False),
        Column("mesh", Text, nullable=False),
        Column("publication_types", Text, nullable=False),
        Column("keywords", Text, nullable=False),
        Column("language", Text, nullable=False),
        Column("doi", Text, nullable=True),
        Column("has_abstract", Boolean(create_constraint=False), nullable=False),
        Column("embeddable", Boolean(create_constraint=False), nullable=False),
        *extra,
        Index("ix_articles_pmid_removed", "pmid", "removed_in"),
        Index("ix_articles_year", "year"),
        Index("ix_articles_journal_lower", "journal_lower"),
        Index("ix_articles_journal_iso_lower", "journal_iso_lower"),
        Index("ix_articles_added", "added_in", "doc_id"),
        Index("ix_articles_removed", "removed_in"),
    )
    if backend == "postgresql":
        Index("ix_articles_tsv", articles.c.tsv, postgresql_using="gin")
    else:
        cols = ("doc_id", "added_in", "removed_in", "year", "has_abstract", "embeddable")
        Index(VIS_INDEX, *(articles.c[c] for c in cols))
    mesh = Table(
        "article_mesh",
        md,
        Column("doc_id", DocId, nullable=False),
        Column("name_lower", Text, nullable=False),
        Column("ui", String(32), nullable=True),
        Index("ix_article_mesh_name", "name_lower", "doc_id"),
        Index("ix_article_mesh_ui", "ui", "doc_id"),
        Index("ix_article_mesh_doc", "doc_id"),
    )
    pubtypes = Table(
        "article_pubtypes",
        md,
        Column("doc_id", DocId, nullable=False),
        Column("name_lower", Text, nullable=False),
        Index("ix_article_pubtypes_name", "name_lower", "doc_id"),
        Index("ix_article_pubtypes_doc", "doc_id"),
    )
    return md, meta, articles, mesh, pubtypes


SQLITE_FTS_INSERT = "INSERT INTO articles_fts(rowid, title, abstract) VALUES (?, ?, ?)"
"""Rows are added to the FTS index by ``Store.apply`` itself, right after the article rows
(an AFTER INSERT trigger doing the same costs twice as much CPU); deletes go by trigger."""
SQLITE_OBSOLETE_DDL = ["DROP TRIGGER IF EXISTS articles_fts_ai"]  # stores of earlier builds

SQLITE_FTS_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5("
    "title, abstract, content='articles', content_rowid='doc_id', "
    f"tokenize='{FTS_TOKENIZER}')",
    f"INSERT INTO articles_fts(articles_fts, rank) VALUES ('rank', '{FTS_RANK}')",
    # merge segments 8 at a time (default 4): ~20% cheaper bulk ingestion
    "INSERT INTO articles_fts(articles_fts, rank) VALUES ('automerge', 8)",
    "CREATE TRIGGER IF NOT EXISTS articles_fts_ad AFTER DELETE ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, abstract) "
    "VALUES ('delete', old.doc_id, old.title, old.abstract); END",
    "CREATE TRIGGER IF NOT EXISTS articles_fts_au AFTER UPDATE OF title, abstract "
    "ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, abstract) "
    "VALUES ('delete', old.doc_id, old.title, old.abstract); "
    "INSERT INTO articles_fts(rowid, title, abstract) "
    "VALUES (new.doc_id, new.title, new.abstract); END",
]
