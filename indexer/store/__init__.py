"""The metadata store (SQLAlchemy: SQLite or PostgreSQL): article rows by index version.

Public names: :class:`Store` (writer and reader), :class:`ApplyResult` (what one ``apply``
changed), :class:`StoredArticle` (a row: doc id + article), :class:`StoreError`.
Modules: ``metadata`` (the Store), ``engine`` (opening a database), ``schema`` (tables),
``rows`` (row codecs and filters to SQL), ``fulltext`` (lexical search in the database).
"""

from indexer.store.engine import StoreError
from indexer.store.metadata import ApplyResult, Store
from indexer.store.rows import StoredArticle

__all__ = ["ApplyResult", "Store", "StoreError", "StoredArticle"]
