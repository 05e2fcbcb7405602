"""The metadata store: one row per article revision, MVCC by index version (SQLAlchemy 2.x).

See docs/ARCHITECTURE.md ("Doc ids and versions"). A row is visible at version V iff
``added_in <= V AND (removed_in IS NULL OR removed_in > V)``; a build at staging version S only
inserts rows (``added_in = S``) and marks rows (``removed_in = S``), so readers at V < S are
never disturbed. SQLite (default; WAL) or PostgreSQL (``postgresql+psycopg://``).

Metadata only: the store keeps each article once, compressed (:mod:`indexer.store.codec`), and
answers by doc id, PMID and version. Lexical search and filters are the lexical index's
(``indexer/lexical/``), which a build feeds from :meth:`Store.to_index` / :meth:`Store.removed_ids`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from sqlalchemy import Connection, bindparam, text

from indexer.records import Article, Deletion
from indexer.store.codec import decode, encode
from indexer.store.engine import IMMEDIATE, StoreError, open_engine
from indexer.store.rows import (
    INSERT_COLS,
    ROW_COLS,
    VISIBLE,
    StoredArticle,
    article_row,
    stored_article,
)

__all__ = ["ApplyResult", "Store", "StoreError", "StoredArticle"]

_CHUNK = 1000
_ADDED = "a.added_in = :v AND (a.removed_in IS NULL OR a.removed_in > :v) AND a.doc_id > :after"
"""Rows added at ``:v`` and visible at it, after doc id ``:after`` (to_embed, to_index)."""
_TO_EMBED = _ADDED + " AND a.embeddable = :t"


@dataclass
class ApplyResult:
    """What one or more :meth:`Store.apply` calls did."""

    added: int = 0
    replaced: int = 0
    deleted: int = 0
    unchanged: int = 0
    older_skipped: int = 0
    missing_deletes: int = 0
    not_embeddable: int = 0

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Current:
    """The row of a PMID that :meth:`Store.apply` compares the PMID's next record with."""

    doc_id: int | None  # None: not stored yet, a pending insert of this batch
    pmid_version: int
    content_hash: bytes
    pending: int = -1  # a pending insert's index in the batch's inserts


def _ids(rows: Iterable) -> np.ndarray:
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def _chunks(seq: Sequence, n: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Store:
    """Metadata store at a SQLAlchemy ``url``; ``readonly`` opens a reader (SQLite ``mode=ro``).

    Thread-safe for readers: every call checks a connection out of the engine's pool.
    """

    def __init__(self, url: str, readonly: bool = False):
        self.readonly = readonly
        self.engine, self.backend, self.url = open_engine(url, readonly)
        self._writer = self.engine.execution_options(**{IMMEDIATE: True})
        ph = "?" if self.backend == "sqlite" else "%s"
        self._insert_sql = (
            f"INSERT INTO articles ({', '.join(INSERT_COLS)}) "
            f"VALUES ({', '.join([ph] * len(INSERT_COLS))})"
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writer

    def apply(self, records: Iterable[Article | Deletion], version: int) -> ApplyResult:
        """Stage ``records`` (in order) at version ``version``, in one transaction.

        Per record, against the row of its PMID visible at ``version`` (or staged earlier in
        this batch): no row -> added; a higher PMID version stored -> older_skipped; same
        content hash -> unchanged; else the row is marked ``removed_in = version`` and a new
        row (new doc id) is inserted -> replaced. A deletion marks the row (deleted) or counts
        a missing_deletes. Only a PMID's last staged revision in a batch is written, and none
        when it equals the stored row, so re-applying a batch writes nothing.
        """
        if self.readonly:
            raise StoreError("this store was opened read-only")
        recs = list(records)
        res = ApplyResult()
        if not recs:
            return res
        with self._writer.begin() as conn:
            cur: dict[int, _Current | None] = {}  # pmid -> its current row (None: deleted)
            start: dict[int, tuple[int, bytes]] = {}  # pmid -> the stored row visible at S
            pmids = sorted({r.pmid for r in recs})
            sql = text(
                "SELECT a.doc_id, a.pmid, a.pmid_version, a.content_hash FROM articles a "
                f"WHERE a.pmid IN :pmids AND {VISIBLE} ORDER BY a.doc_id"
            ).bindparams(bindparam("pmids", expanding=True))
            for chunk in _chunks(pmids):
                for doc_id, pmid, pv, h in conn.execute(sql, {"pmids": list(chunk), "v": version}):
                    cur[int(pmid)] = _Current(int(doc_id), int(pv), bytes(h))
                    start[int(pmid)] = (int(doc_id), bytes(h))
            removed: set[int] = set()
            pending: list[tuple[Article, bytes, bytes] | None] = []
            for rec in recs:
                c = cur.get(rec.pmid)
                if isinstance(rec, Deletion):
                    if c is None:
                        res.missing_deletes += 1
                        continue
                    res.deleted += 1
                elif c is not None and c.pmid_version > rec.version:
                    res.older_skipped += 1
                    continue
                else:
                    h, record = encode(rec)  # compressed only if it is written
                    if c is not None and c.content_hash == h:
                        res.unchanged += 1
                        continue
                    res.not_embeddable += not rec.embeddable
                    if c is None:
                        res.added += 1
                    else:
                        res.replaced += 1
                if c is not None:  # supersede the current row (stored or pending in this batch)
                    if c.doc_id is not None:
                        removed.add(c.doc_id)
                    else:
                        pending[c.pending] = None
                if isinstance(rec, Deletion):
                    cur[rec.pmid] = None
                else:
                    cur[rec.pmid] = _Current(None, rec.version, h, len(pending))
                    pending.append((rec, h, record))
            for pmid, (doc_id, h0) in start.items():
                c = cur[pmid]
                if c is not None and c.doc_id is None and c.content_hash == h0:
                    # the batch ends where it started (re-applied batch, delete + re-add): the
                    # stored row stays, so a re-applied batch writes nothing at all
                    removed.discard(doc_id)
                    pending[c.pending] = None
            new = [p for p in pending if p is not None]
            self._write(conn, version, sorted(removed), new)
        return res

    def _write(
        self,
        conn: Connection,
        version: int,
        removed: list[int],
        new: list[tuple[Article, bytes, bytes]],
    ) -> None:
        upd = text("UPDATE articles SET removed_in = :v WHERE doc_id IN :ids")
        upd = upd.bindparams(bindparam("ids", expanding=True))
        for chunk in _chunks(removed):
            conn.execute(upd, {"v": version, "ids": list(chunk)})
        if not new:
            return
        lock = "" if self.backend == "sqlite" else " FOR UPDATE"
        sql = f"SELECT value FROM meta WHERE key = 'next_doc_id'{lock}"
        first = int(conn.execute(text(sql)).scalar_one())
        rows = [article_row(first + i, *n, version) for i, n in enumerate(new)]
        conn.exec_driver_sql(self._insert_sql, rows)
        conn.execute(
            text("UPDATE meta SET value = :n WHERE key = 'next_doc_id'"),
            {"n": str(first + len(new))},
        )

    def to_embed(self, version: int, after_doc_id: int, limit: int) -> list[tuple[int, str]]:
        """(doc_id, embed text) of embeddable rows added at ``version`` and visible at it."""
        rows = self._added_rows(_TO_EMBED, version, after_doc_id, limit)
        return [(int(d), decode(int(p), int(pv), bytes(b)).embed_text()) for d, p, pv, b in rows]

    def to_index(self, version: int, after_doc_id: int, limit: int) -> list[tuple[int, Article]]:
        """(doc_id, article) of every row added at ``version`` and visible at it, embeddable
        or not, with doc id > ``after_doc_id``, by doc id, at most ``limit``: what the lexical
        index adds for ``version``."""
        rows = self._added_rows(_ADDED, version, after_doc_id, limit)
        return [(int(d), decode(int(p), int(pv), bytes(b))) for d, p, pv, b in rows]

    def _added_rows(self, where: str, version: int, after: int, limit: int) -> list:
        sql = text(
            f"SELECT a.doc_id, a.pmid, a.pmid_version, a.data FROM articles a WHERE {where} "
            "ORDER BY a.doc_id LIMIT :limit"
        )
        params = {"v": version, "t": True, "after": after, "limit": limit}
        with self.engine.connect() as conn:
            return conn.execute(sql, params).all()

    def count_to_embed(self, version: int, after_doc_id: int = 0) -> int:
        """How many rows :meth:`to_embed` would still return after ``after_doc_id``."""
        sql = text(f"SELECT count(*) FROM articles a WHERE {_TO_EMBED}")
        with self.engine.connect() as conn:
            params = {"v": version, "t": True, "after": after_doc_id}
            return int(conn.execute(sql, params).scalar())

    def removed_doc_ids(self, version: int) -> np.ndarray:
        """Embeddable rows marked removed at ``version`` that were visible before it."""
        sql = (
            "SELECT a.doc_id FROM articles a WHERE a.removed_in = :v AND a.added_in < :v "
            "AND a.embeddable = :t"
        )
        return self._id_query(sql, {"v": version, "t": True})

    def removed_ids(self, version: int) -> np.ndarray:
        """Every row marked removed at ``version``, whatever its ``added_in`` or embeddability:
        what the lexical index deletes for ``version``."""
        sql = "SELECT a.doc_id FROM articles a WHERE a.removed_in = :v"
        return self._id_query(sql, {"v": version})

    def visible_embedded_ids(self, version: int) -> np.ndarray:
        sql = f"SELECT a.doc_id FROM articles a WHERE {VISIBLE} AND a.embeddable = :t"
        return self._id_query(sql, {"v": version, "t": True})

    def visible_pmids(self, version: int) -> np.ndarray:
        """Sorted PMIDs of the rows visible at ``version`` (what a replacing build sweeps)."""
        sql = f"SELECT a.pmid AS doc_id FROM articles a WHERE {VISIBLE}"
        return self._id_query(sql, {"v": version})

    def next_doc_id(self) -> int:
        with self.engine.connect() as conn:
            sql = "SELECT value FROM meta WHERE key = 'next_doc_id'"
            return int(conn.execute(text(sql)).scalar_one())

    def counts(self, version: int) -> dict[str, int]:
        """Visible rows at ``version``: articles, embedded (embeddable), with_abstract."""
        sql = text(
            "SELECT count(*), sum(CASE WHEN a.embeddable THEN 1 ELSE 0 END), "
            "sum(CASE WHEN a.has_abstract THEN 1 ELSE 0 END) "
            f"FROM articles a WHERE {VISIBLE}"
        )
        with self.engine.connect() as conn:
            n, emb, ab = conn.execute(sql, {"v": version}).one()
        return {"articles": int(n), "embedded": int(emb or 0), "with_abstract": int(ab or 0)}

    def gc(self, before_version: int) -> int:
        """Physically delete rows with ``removed_in <= before_version``; returns their number."""
        if self.readonly:
            raise StoreError("this store was opened read-only")
        with self._writer.begin() as conn:
            sql = text("DELETE FROM articles WHERE removed_in <= :b")
            return int(conn.execute(sql, {"b": before_version}).rowcount)

    # ------------------------------------------------------------------ reader

    def _id_query(self, sql: str, params: dict) -> np.ndarray:
        """The sorted int64 doc ids ``sql`` (one column) selects."""
        with self.engine.connect() as conn:
            if self.backend == "sqlite":  # one string, parsed by numpy: ~2x faster than rows
                sql = f"SELECT group_concat(doc_id) FROM ({sql})"
                joined = conn.connection.driver_connection.execute(sql, params).fetchone()[0]
                return np.sort(np.fromstring(joined or "", dtype=np.int64, sep=","))
            return np.sort(_ids(conn.execute(text(sql), params)))

    def get_docs(self, doc_ids: Iterable[int]) -> dict[int, StoredArticle]:
        """Stored rows by doc id (any visibility); unknown ids are absent from the result."""
        ids = sorted({int(d) for d in doc_ids})
        out: dict[int, StoredArticle] = {}
        sql = text(f"SELECT {ROW_COLS} FROM articles a WHERE a.doc_id IN :ids")
        sql = sql.bindparams(bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for r in conn.execute(sql, {"ids": list(chunk)}):
                    out[int(r.doc_id)] = stored_article(r)
        return out

    def doc_for_pmid(self, pmid: int, version: int) -> StoredArticle | None:
        sql = text(
            f"SELECT {ROW_COLS} FROM articles a WHERE a.pmid = :p AND {VISIBLE} "
            "ORDER BY a.doc_id DESC LIMIT 1"
        )
        with self.engine.connect() as conn:
            r = conn.execute(sql, {"p": int(pmid), "v": version}).first()
        return stored_article(r) if r is not None else None
