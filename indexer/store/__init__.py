"""The metadata store (SQLAlchemy: SQLite or PostgreSQL): article rows by index version.

Metadata only: each article is stored once, compressed, and read back by doc id or PMID;
searching and filtering belong to the lexical index (``indexer/lexical/``).
Public names: :class:`Store` (writer and reader), :class:`ApplyResult` (what one ``apply``
changed), :class:`StoredArticle` (a row: doc id + article), :class:`StoreError`.
Modules: ``metadata`` (the Store), ``engine`` (opening a database, the schema version),
``schema`` (tables), ``rows`` (rows <-> articles), ``codec`` (the compressed record, the
content hash).
"""

from indexer.store.engine import StoreError
from indexer.store.metadata import ApplyResult, Store
from indexer.store.rows import StoredArticle

__all__ = ["ApplyResult", "Store", "StoreError", "StoredArticle"]
