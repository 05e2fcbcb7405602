"""Engines for the metadata store: SQLite (WAL, read-only readers) or PostgreSQL, and the schema.

SQLite connections run in driver autocommit mode and SQLAlchemy's ``begin`` emits ``BEGIN``
itself (the SQLAlchemy-documented pysqlite recipe), so a read is one consistent snapshot and
a write transaction (``BEGIN IMMEDIATE``) takes the write lock up front. Writers use
``journal_mode=WAL`` and ``synchronous=NORMAL``; readers open the file with ``mode=ro`` and
keep working while a writer commits. Both wait up to 30 s on a busy database.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from indexer.store.schema import (
    FIRST_DOC_ID,
    SCHEMA_VERSION,
    SQLITE_FTS_DDL,
    SQLITE_OBSOLETE_DDL,
    build_metadata,
)

BUSY_TIMEOUT_S = 30.0
IMMEDIATE = "sqlite_begin_immediate"
"""Execution option: the transaction starts with ``BEGIN IMMEDIATE`` (SQLite writers)."""


class StoreError(RuntimeError):
    """The store cannot be opened or used as asked (bad URL, missing file, read-only...)."""


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL; a bare filesystem path means a SQLite file."""
    if "://" not in url:
        return "sqlite:///" + os.path.abspath(url)
    return url


def open_engine(url: str, readonly: bool) -> tuple[Engine, str, str]:
    """(engine, backend, url) with the schema created (writer) or checked (reader)."""
    url = normalise_url(url)
    try:
        u = make_url(url)
    except Exception as e:
        raise StoreError(f"not a database URL: {url!r} ({e})") from e
    backend = u.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(u.database, readonly)
    elif backend == "postgresql":
        engine = _pg_engine(url, readonly)
    else:
        raise StoreError(f"unsupported database backend {backend!r} in {url!r}")
    try:
        _check_or_create_schema(engine, backend, readonly)
    except BaseException:
        engine.dispose()
        raise
    return engine, backend, url


def _sqlite_engine(database: str | None, readonly: bool) -> Engine:
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StoreError(f"the SQLite store needs a file path, got {database!r}")
    path = os.path.abspath(database)
    if readonly:
        if not os.path.exists(path):
            raise StoreError(f"no metadata store at {path}")
        target, uri = Path(path).as_uri() + "?mode=ro", True
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        target, uri = path, False

    def creator() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=uri, check_same_thread=False, timeout=BUSY_TIMEOUT_S)

    engine = create_engine(
        "sqlite://", creator=creator, poolclass=QueuePool, pool_size=8, max_overflow=24
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA cache_size = -65536")
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.execute("PRAGMA mmap_size = 268435456")
        if not readonly:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _pg_engine(url: str, readonly: bool) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=24)
    if readonly:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record: object) -> None:
            dbapi_conn.read_only = True

    return engine


def _check_or_create_schema(engine: Engine, backend: str, readonly: bool) -> None:
    md, meta, *_ = build_metadata(backend)
    if not readonly:
        md.create_all(engine)
        for table in md.sorted_tables:  # indexes added to tables of an older store
            for index in table.indexes:
                index.create(engine, checkfirst=True)
    tables = set(inspect(engine).get_table_names())
    missing = {t.name for t in md.sorted_tables} - tables
    if backend == "sqlite" and not readonly:
        with engine.begin() as conn:
            for ddl in SQLITE_FTS_DDL if "articles_fts" not in tables else []:
                conn.exec_driver_sql(ddl)
            for ddl in SQLITE_OBSOLETE_DDL:
                conn.exec_driver_sql(ddl)
    if missing:
        raise StoreError(f"not a metadata store (missing tables {sorted(missing)}): {engine.url}")
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM meta")).all())
        if "schema_version" not in rows and not readonly:
            conn.execute(
                meta.insert(),
                [
                    {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                    {"key": "next_doc_id", "value": str(FIRST_DOC_ID)},
                ],
            )
            return
    if rows.get("schema_version") != str(SCHEMA_VERSION):
        raise StoreError(
            f"metadata store schema version {rows.get('schema_version')!r}, "
            f"this code reads version {SCHEMA_VERSION}; rebuild the index"
        )
