"""The metadata store: one row per article revision, MVCC by index version (SQLAlchemy 2.x).

See docs/ARCHITECTURE.md ("Doc ids and versions"). A row is visible at version V iff
``added_in <= V AND (removed_in IS NULL OR removed_in > V)``; a build at staging version S only
inserts rows (``added_in = S``) and marks rows (``removed_in = S``), so readers at V < S are
never disturbed. SQLite (default; WAL, FTS5) or PostgreSQL (``postgresql+psycopg://``).
Lexical search and its cost bounds are described in :mod:`indexer.store.fulltext`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
from sqlalchemy import Connection, bindparam, inspect, text

from indexer.filters import Filters
from indexer.records import Article, Deletion
from indexer.store import fulltext
from indexer.store.engine import IMMEDIATE, StoreError, open_engine
from indexer.store.rows import (
    ROW_COLS,
    VISIBLE,
    StoredArticle,
    article_row,
    encode,
    stored_article,
    where_clause,
)
from indexer.store.schema import SQLITE_FTS_INSERT, VIS_INDEX, build_metadata

__all__ = ["ApplyResult", "Store", "StoreError", "StoredArticle"]

_CHUNK = 1000
_TO_EMBED = (
    "a.added_in = :v AND (a.removed_in IS NULL OR a.removed_in > :v) "
    "AND a.embeddable = :t AND a.doc_id > :after"
)


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
    content_hash: str
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

    def __init__(self, url: str, readonly: bool = False, lexical_budget: int | None = None):
        self.readonly = readonly
        self.engine, self.backend, self.url = open_engine(url, readonly)
        self._writer = self.engine.execution_options(**{IMMEDIATE: True})
        default = fulltext.LEXICAL_BUDGET_PG if self.backend == "postgresql" else None
        self.lexical_budget = lexical_budget or default or fulltext.LEXICAL_BUDGET
        _, self._meta, self._articles, self._mesh, self._pubtypes = build_metadata(self.backend)
        self._dfs = fulltext.DfCache()
        self._n_docs: tuple[int, int] | None = None
        self._insert_sql = self._insert_statements()
        self._arts = "articles a"  # FROM item for queries that read only covered columns
        indexes = {i["name"] for i in inspect(self.engine).get_indexes("articles")}
        if self.backend == "sqlite" and VIS_INDEX in indexes:
            self._arts = f"articles a INDEXED BY {VIS_INDEX}"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _insert_statements(self) -> tuple[str, str, str]:
        ph = "?" if self.backend == "sqlite" else "%s"
        out = []
        for table in (self._articles, self._mesh, self._pubtypes):
            cols = [c.name for c in table.columns if c.name != "tsv"]
            values = ", ".join([ph] * len(cols))
            out.append(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({values})")
        return out[0], out[1], out[2]

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
            start: dict[int, tuple[int, str]] = {}  # pmid -> the stored row visible at S
            pmids = sorted({r.pmid for r in recs})
            sql = text(
                "SELECT a.doc_id, a.pmid, a.pmid_version, a.content_hash FROM articles a "
                f"WHERE a.pmid IN :pmids AND {VISIBLE} ORDER BY a.doc_id"
            ).bindparams(bindparam("pmids", expanding=True))
            for chunk in _chunks(pmids):
                for doc_id, pmid, pv, h in conn.execute(sql, {"pmids": list(chunk), "v": version}):
                    cur[int(pmid)] = _Current(int(doc_id), int(pv), h)
                    start[int(pmid)] = (int(doc_id), h)
            removed: set[int] = set()
            pending: list[tuple[Article, tuple[str, tuple]] | None] = []
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
                    enc = encode(rec)
                    h = enc[0]
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
                    pending.append((rec, enc))
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
        new: list[tuple[Article, tuple[str, tuple]]],
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
        nul = self.backend == "postgresql"
        rows, mesh, pts = [], [], []
        for i, (a, enc) in enumerate(new):
            doc_id = first + i
            rows.append(article_row(doc_id, a, enc, version, nul))
            for m in {(m.name.strip().lower(), m.ui) for m in a.mesh}:
                mesh.append((doc_id, *m))
            for p in {p.strip().lower() for p in a.publication_types}:
                pts.append((doc_id, p))
        if nul:
            mesh = [(d, n.replace("\x00", ""), u and u.replace("\x00", "")) for d, n, u in mesh]
            pts = [(d, p.replace("\x00", "")) for d, p in pts]
        for sql, data in zip(self._insert_sql, (rows, mesh, pts), strict=True):
            if data:
                conn.exec_driver_sql(sql, data)
        if self.backend == "sqlite":  # explicit, not a trigger: ~2x cheaper for FTS5
            fts = [(r[0], r[6], r[7]) for r in rows]
            conn.exec_driver_sql(SQLITE_FTS_INSERT, fts)
        else:  # merge GIN's pending list now, in bulk, rather than scan it in every search
            conn.exec_driver_sql("SELECT gin_clean_pending_list('ix_articles_tsv'::regclass)")
        conn.execute(
            text("UPDATE meta SET value = :n WHERE key = 'next_doc_id'"),
            {"n": str(first + len(new))},
        )

    def to_embed(self, version: int, after_doc_id: int, limit: int) -> list[tuple[int, str]]:
        """(doc_id, embed text) of embeddable rows added at ``version`` and visible at it."""
        sql = text(
            f"SELECT a.doc_id, a.title, a.abstract FROM articles a WHERE {_TO_EMBED} "
            "ORDER BY a.doc_id LIMIT :limit"
        )
        params = {"v": version, "t": True, "after": after_doc_id, "limit": limit}
        with self.engine.connect() as conn:
            rows = conn.execute(sql, params).all()
        return [(int(d), " ".join(p for p in (t.strip(), ab.strip()) if p)) for d, t, ab in rows]

    def to_index(self, version: int, after_doc_id: int, limit: int) -> list[tuple[int, Article]]:
        """(doc_id, article) of every row added at ``version`` and visible at it, by doc id."""
        sql = text(
            f"SELECT {ROW_COLS} FROM articles a WHERE a.added_in = :v AND "
            "(a.removed_in IS NULL OR a.removed_in > :v) AND a.doc_id > :after "
            "ORDER BY a.doc_id LIMIT :limit"
        )
        params = {"v": version, "after": after_doc_id, "limit": limit}
        with self.engine.connect() as conn:
            rows = conn.execute(sql, params).all()
        return [(int(r.doc_id), stored_article(r).article) for r in rows]

    def removed_ids(self, version: int) -> np.ndarray:
        """Doc ids of every row marked removed at ``version``."""
        return self._id_query(
            "SELECT a.doc_id FROM articles a WHERE a.removed_in = :v", {"v": version}
        )

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
            "AND a.embeddable = :t ORDER BY a.doc_id"
        )
        return self._id_query(sql, {"v": version, "t": True})

    def visible_embedded_ids(self, version: int) -> np.ndarray:
        sql = f"SELECT a.doc_id FROM {self._arts} WHERE {VISIBLE} AND a.embeddable = :t ORDER BY 1"
        return self._id_query(sql, {"v": version, "t": True})

    def next_doc_id(self) -> int:
        with self.engine.connect() as conn:
            sql = "SELECT value FROM meta WHERE key = 'next_doc_id'"
            return int(conn.execute(text(sql)).scalar_one())

    def counts(self, version: int) -> dict[str, int]:
        """Visible rows at ``version``: articles, embedded (embeddable), with_abstract."""
        sql = text(
            "SELECT count(*), sum(CASE WHEN a.embeddable THEN 1 ELSE 0 END), "
            "sum(CASE WHEN a.has_abstract THEN 1 ELSE 0 END) "
            f"FROM {self._arts} WHERE {VISIBLE}"
        )
        with self.engine.connect() as conn:
            n, emb, ab = conn.execute(sql, {"v": version}).one()
        return {"articles": int(n), "embedded": int(emb or 0), "with_abstract": int(ab or 0)}

    def gc(self, before_version: int) -> int:
        """Physically delete rows with ``removed_in <= before_version``; returns their number."""
        if self.readonly:
            raise StoreError("this store was opened read-only")
        old = "SELECT doc_id FROM articles WHERE removed_in <= :b"
        with self._writer.begin() as conn:
            for table in ("article_mesh", "article_pubtypes"):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE doc_id IN ({old})"), {"b": before_version}
                )
            sql = text("DELETE FROM articles WHERE removed_in <= :b")
            return int(conn.execute(sql, {"b": before_version}).rowcount)

    # ------------------------------------------------------------------ reader

    def _id_query(self, sql: str, params: dict) -> np.ndarray:
        with self.engine.connect() as conn:
            if self.backend == "sqlite":  # one string, parsed by numpy: ~2x faster than rows
                sql = f"SELECT group_concat(doc_id) FROM ({sql})"
                joined = conn.connection.driver_connection.execute(sql, params).fetchone()[0]
                return np.sort(np.fromstring(joined or "", dtype=np.int64, sep=","))
            return _ids(conn.execute(text(sql), params))

    def lexical_search(
        self,
        query: str,
        version: int,
        limit: int,
        filters: Filters | None = None,
        offset: int = 0,
    ) -> tuple[list[tuple[int, float]], int]:
        """((doc_id, score) best first for [offset, offset+limit), total matches); words only."""
        tokens = fulltext.query_tokens(query)
        if not tokens:
            return [], 0
        # correlated: MeSH/pubtype filters are looked up per full-text match (a few thousand at
        # most, see fulltext) instead of materialising every doc of the term: measured 2.3x
        # faster lexical search at 1M articles with pubtype=Review, same results
        where = where_clause(filters, version, embeddable=False, table=self._arts, correlated=True)
        with self.engine.connect() as conn:

            def dfs(toks, probe):
                return self._dfs.get(version, toks, probe)

            args = (conn, tokens, where, max(limit, 0), max(offset, 0), self.lexical_budget, dfs)
            if self.backend == "sqlite":
                return fulltext.sqlite_search(*args)
            return fulltext.pg_search(*args, n_docs=lambda: self._count_docs(conn, version))

    def _count_docs(self, conn: Connection, version: int) -> int:
        if self._n_docs is None or self._n_docs[0] != version:
            n = int(conn.execute(text("SELECT count(*) FROM articles")).scalar())
            self._n_docs = (version, n)
        return self._n_docs[1]

    def filter_doc_ids(self, filters: Filters | None, version: int) -> np.ndarray:
        """Sorted doc ids of visible, embeddable rows matching ``filters``."""
        w = where_clause(filters, version, embeddable=True)
        return self._id_query(
            f"SELECT a.doc_id FROM {self._arts} WHERE {w.sql} ORDER BY 1", w.params
        )

    def match_doc_ids(
        self, doc_ids: Iterable[int], filters: Filters | None, version: int
    ) -> np.ndarray:
        """Sorted doc ids among ``doc_ids`` that :meth:`filter_doc_ids` would return.

        Primary-key lookups only: the search layer post-filters dense candidates with it
        instead of materialising a large filtered set.
        """
        ids = sorted({int(d) for d in doc_ids})
        w = where_clause(filters, version, embeddable=True, correlated=True)
        sql = text(f"SELECT a.doc_id FROM {self._arts} WHERE a.doc_id IN :ids AND {w.sql}")
        sql = sql.bindparams(bindparam("ids", expanding=True))
        out: list[int] = []
        with self.engine.connect() as conn:  # one statement per 10,000 ids (bind limit 32766)
            for chunk in _chunks(ids, 10_000):
                out.extend(int(r[0]) for r in conn.execute(sql, {**w.params, "ids": list(chunk)}))
        return np.array(sorted(out), dtype=np.int64)

    def count_filtered(self, filters: Filters | None, version: int) -> int:
        """``len(filter_doc_ids(filters, version))`` without materialising the ids."""
        w = where_clause(filters, version, embeddable=True)
        with self.engine.connect() as conn:
            sql = text(f"SELECT count(*) FROM {self._arts} WHERE {w.sql}")
            return int(conn.execute(sql, w.params).scalar())

    def get_docs(self, doc_ids: Iterable[int]) -> dict[int, StoredArticle]:
        """Stored rows by doc id (any visibility); unknown ids are absent from the result."""
        ids = sorted({int(d) for d in doc_ids})
        out: dict[int, StoredArticle] = {}
        sql = text(f"SELECT {ROW_COLS} FROM articles WHERE doc_id IN :ids")
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
