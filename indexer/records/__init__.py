"""Plain data records passed between the readers, the store and the search layer.

:mod:`.article`: the :class:`Article` (one citation), :class:`Deletion`, ``Record``;
:mod:`.parts`: the parts an article is made of.
"""

from indexer.records.article import Article, Deletion, Record
from indexer.records.parts import (
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)

__all__ = [
    "Article",
    "AuthorDetail",
    "Chemical",
    "CommentCorrection",
    "Deletion",
    "Grant",
    "MeshQualifier",
    "MeshTerm",
    "PubDate",
    "Record",
    "Section",
]
