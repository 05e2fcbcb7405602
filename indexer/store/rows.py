"""Rows of ``articles``: the visibility condition, and articles <-> rows (:mod:`.codec`)."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.records import Article
from indexer.store.codec import compress, decode

VISIBLE = "a.added_in <= :v AND (a.removed_in IS NULL OR a.removed_in > :v)"
"""Rows of ``articles a`` visible at version ``:v`` (docs/ARCHITECTURE.md, MVCC)."""

INSERT_COLS = (
    "doc_id", "pmid", "pmid_version", "added_in", "removed_in", "content_hash", "embeddable",
    "has_abstract", "data",
)  # fmt: skip
ROW_COLS = "a.doc_id, a.pmid, a.pmid_version, a.added_in, a.removed_in, a.data"
"""What :func:`stored_article` reads, from ``articles a``."""


@dataclass
class StoredArticle:
    """One stored revision: its doc id (FAISS id), the version that added it, the article."""

    doc_id: int
    added_in: int
    article: Article
    removed_in: int | None = None


def article_row(doc_id: int, a: Article, content_hash: bytes, record: bytes, version: int) -> tuple:
    """The ``articles`` row (:data:`INSERT_COLS`) of ``a`` added at ``version``.

    ``content_hash`` / ``record``: :func:`.codec.encode` of ``a``.
    """
    abstract = a.abstract
    embeddable = bool(a.title.strip() or abstract.strip())  # a.embeddable, abstract joined once
    has_abstract = bool(abstract.strip())
    return (
        doc_id, a.pmid, a.version, version, None, content_hash, embeddable, has_abstract,
        compress(record),
    )  # fmt: skip


def stored_article(r) -> StoredArticle:
    """The :class:`StoredArticle` of a row of :data:`ROW_COLS`."""
    art = decode(int(r[1]), int(r[2]), bytes(r[5]))
    return StoredArticle(int(r[0]), int(r[3]), art, r[4])
