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

from sqlalchemy import Engine, create_engine, event, exc, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool

from indexer.errors import DamagedIndex, InvalidParameter, PubmedSearchError, Unavailable
from indexer.store.schema import FIRST_DOC_ID, SCHEMA_VERSION, build_metadata

BUSY_TIMEOUT_S = 30.0
IMMEDIATE = "sqlite_begin_immediate"
"""Execution option: the transaction starts with ``BEGIN IMMEDIATE`` (SQLite writers)."""


class StoreError(PubmedSearchError, RuntimeError):
    """The store cannot be used as asked (e.g. a write to a store opened read-only)."""


class StoreURLError(StoreError, InvalidParameter):
    """The store URL (``--db``) is malformed, of an unsupported backend, or names no driver."""


class StoreUnavailable(StoreError, Unavailable):
    """The database server cannot be reached (or its driver is not installed)."""


class StoreDamaged(StoreError, DamagedIndex):
    """The store is missing, not a metadata store, or of another schema version."""


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL; a bare filesystem path means a SQLite file."""
    if "://" not in url:
        return "sqlite:///" + os.path.abspath(url)
    return url


def parse_url(url: str) -> URL:
    """The parsed store URL (a bare path means SQLite); StoreURLError if it cannot be used."""
    url = normalise_url(url)
    try:
        u = make_url(url)
    except Exception as e:  # ArgumentError, or ValueError for e.g. a non-numeric port
        raise StoreURLError(f"not a database URL: {url!r} ({e})") from e
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreURLError(
            f"unsupported database backend {backend!r} in {url!r}: use a SQLite path or "
            "sqlite:///PATH, or postgresql+psycopg://user@host/db"
        )
    if backend == "sqlite" and (
        not u.database or u.database == ":memory:" or u.database.startswith("file:")
    ):
        raise StoreURLError(f"the SQLite store needs a file path, got {u.database!r}")
    return u


def open_engine(url: str, readonly: bool) -> tuple[Engine, str, str]:
    """(engine, backend, url) with the schema created (writer) or checked (reader).

    Fails with StoreURLError (bad URL), StoreUnavailable (server not reachable) or
    StoreDamaged (missing file, not a store, a store of another schema version: nothing is
    created in a store of another schema version).
    """
    u = parse_url(url)
    url = normalise_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(u.database, readonly)
    else:
        engine = _pg_engine(url, readonly)
    where = u.render_as_string(hide_password=True)
    try:
        _check_or_create_schema(engine, readonly, where)
    except exc.OperationalError as e:
        engine.dispose()
        if backend == "sqlite":
            raise  # a local file: disk full, permissions... (a build reports these itself)
        raise StoreUnavailable(f"cannot connect to the database {where}: {_first_line(e)}") from e
    except exc.DatabaseError as e:
        engine.dispose()
        raise StoreDamaged(f"{where} is not a usable metadata store: {_first_line(e)}") from e
    except BaseException:
        engine.dispose()
        raise
    return engine, backend, url


def _first_line(error: exc.DBAPIError) -> str:
    """The driver's own message, first line (not the SQL SQLAlchemy appends)."""
    text = str(error.orig or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sqlite_engine(database: str, readonly: bool) -> Engine:
    path = os.path.abspath(database)
    if readonly:
        if not os.path.exists(path):
            raise StoreDamaged(f"no metadata store at {path}: the index is damaged")
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
    try:
        engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=24)
    except exc.NoSuchModuleError as e:
        raise StoreURLError(f"no such database driver in {url!r}: {e}") from e
    except ImportError as e:
        raise StoreUnavailable(
            f"the database driver for {url!r} is not installed ({e}): "
            "pip install 'pubmed-search[postgres]'"
        ) from e
    if readonly:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record: object) -> None:
            dbapi_conn.read_only = True

    return engine


REBUILD = "pubmed-search build --index NEW_DIR INPUT..."


def _check_or_create_schema(engine: Engine, readonly: bool, where: str) -> None:
    md, meta, _ = build_metadata()
    if "meta" in inspect(engine).get_table_names():  # check before creating anything
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT key, value FROM meta")).all())
        if "schema_version" in rows:
            _check_version(rows["schema_version"], where)
    if not readonly:
        md.create_all(engine)
    missing = {t.name for t in md.sorted_tables} - set(inspect(engine).get_table_names())
    if missing:
        raise StoreDamaged(f"not a metadata store (missing tables {sorted(missing)}): {where}")
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM meta")).all())
        if "schema_version" in rows:
            return
        if readonly:
            raise StoreDamaged(f"not a metadata store (no schema version): {where}")
        conn.execute(
            meta.insert(),
            [
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                {"key": "next_doc_id", "value": str(FIRST_DOC_ID)},
            ],
        )


def _check_version(found: str, where: str) -> None:
    """StoreDamaged unless ``found`` is :data:`SCHEMA_VERSION`, naming what to do."""
    if found == str(SCHEMA_VERSION):
        return
    older = found.isdigit() and int(found) < SCHEMA_VERSION
    if older:
        raise StoreDamaged(
            f"the metadata store {where} has schema version {found} (this pubmed-search reads "
            f"version {SCHEMA_VERSION}): the index was built by an older pubmed-search and must "
            f"be rebuilt: {REBUILD}"
        )
    raise StoreDamaged(
        f"the metadata store {where} has schema version {found!r} (this pubmed-search reads "
        f"version {SCHEMA_VERSION}): it was written by a newer pubmed-search; use that "
        f"version, or rebuild the index: {REBUILD}"
    )
