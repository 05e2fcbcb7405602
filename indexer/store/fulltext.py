"""Lexical (BM25-style) retrieval over title + abstract for the metadata store.

The user's words are never query syntax: :func:`query_tokens` splits the text into words and
drops the stop words (``indexer.text``; unless nothing else is left) and the
backend gets each token as a quoted phrase (FTS5) or a ``plainto_tsquery`` bind parameter
(PostgreSQL), OR-ed together: any term may match, more and rarer terms rank higher.

Bounded cost. FTS5 has no top-k pruning: ``ORDER BY rank`` computes bm25 for *every* match
(~4-8 us each on the development machine), so a query must never rank more than a few
thousand docs to stay near 10-20 ms, whatever the collection size:

1. *Term pruning.* Each token's document frequency is probed (counting at most
   ``PROBE_CAP`` postings, cached per version). Terms are kept rarest first while the summed
   document frequency stays within ``budget`` (``LEXICAL_BUDGET`` by default); the rarest
   term is always kept. Dropped terms are the most common ones, whose IDF is lowest. Docs
   matching only dropped terms are not candidates and are not counted in ``total``.
2. *Window.* If even the rarest term matches more than ``budget`` docs, only the ``budget``
   most recently added matching docs (highest doc ids, among those visible and matching the
   filters) are ranked and counted.

Within those bounds, results and ``total`` are exact: (doc_id, score) best first (higher is
better), ``total`` = visible docs matching the evaluated terms and the filters, so paging
through ``total`` is consistent. Scores use whole-index statistics (FTS5 counts every stored
row, PostgreSQL's IDF the probed frequencies), so they drift slightly while a build stages
rows; which docs are visible, and ``total``, do not.

Scores: SQLite ranks with FTS5 ``bm25(2.0, 1.0)`` (negated); PostgreSQL with
``sum(idf(term) * ts_rank(tsv, term))`` over the kept terms (title weight A, abstract B),
budget ``LEXICAL_BUDGET_PG`` (its per-row ranking is several times dearer than FTS5's).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from indexer.filters import MAX_QUERY_CHARS
from indexer.text import STOP_WORDS, distinct
from indexer.text import words as text_words

LEXICAL_BUDGET = 2000
LEXICAL_BUDGET_PG = 1000  # ts_rank costs ~20-40 us a row (tsvector detoast + rank) vs ~4-8
PROBE_CAP = 8_000
MAX_TOKENS = 32


def query_tokens(query: str) -> list[str]:
    """Distinct terms of ``query`` (``indexer.text``), or its stop words when it has no term."""
    words = distinct(text_words(query[:MAX_QUERY_CHARS]))
    content = [w for w in words if w not in STOP_WORDS]
    return (content or words)[:MAX_TOKENS]


def fts5_phrase(token: str) -> str:
    """An FTS5 string literal: the token is matched as text, never as syntax."""
    return '"' + token.replace('"', '""') + '"'


def choose_terms(dfs: dict[str, int], budget: int) -> tuple[list[str], int]:
    """Rarest-first terms whose summed document frequency fits ``budget``; (terms, sum)."""
    ordered = sorted((df, -len(t), t) for t, df in dfs.items() if df > 0)
    kept: list[str] = []
    total = 0
    for df, _, token in ordered:
        if kept and total + df > budget:
            break
        kept.append(token)
        total += df
    return kept, total


class DfCache:
    """Thread-safe per-version cache of probed document frequencies."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._dfs: dict[str, int] = {}
        self._max = max_entries

    def get(self, version: int, tokens: Sequence[str], probe: Callable[[str], int]) -> dict:
        with self._lock:
            if self._version != version or len(self._dfs) > self._max:
                self._version, self._dfs = version, {}
            known = {t: self._dfs[t] for t in tokens if t in self._dfs}
        for t in tokens:
            if t not in known:
                known[t] = probe(t)
        with self._lock:
            if self._version == version:
                self._dfs.update(known)
        return known


@dataclass(frozen=True)
class Where:
    """A SQL condition over ``articles a`` (visibility + filters) and its bind parameters."""

    sql: str
    params: dict
    has_filters: bool
    table: str = "articles a"  # the FROM item for ``a`` (SQLite: with its covering index)


def _page(rows: Sequence, count: Callable[[], int], limit: int, offset: int) -> tuple[list, int]:
    if rows:
        return [(int(r[0]), float(r[1])) for r in rows], int(rows[0][2])
    return [], (count() if offset > 0 or limit == 0 else 0)


def sqlite_search(
    conn: Connection,
    tokens: Sequence[str],
    where: Where,
    limit: int,
    offset: int,
    budget: int,
    dfs: Callable[[Sequence[str], Callable[[str], int]], dict],
) -> tuple[list[tuple[int, float]], int]:
    """FTS5 search; see the module docstring."""

    def probe(token: str) -> int:
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM articles_fts "
            "WHERE articles_fts MATCH :q LIMIT :cap)"
        )
        return int(conn.execute(text(sql), {"q": fts5_phrase(token), "cap": PROBE_CAP}).scalar())

    terms, total_df = choose_terms(dfs(tokens, probe), budget)
    if not terms:
        return [], 0
    params = {**where.params, "q": " OR ".join(fts5_phrase(t) for t in terms), "lo": 0}
    src = (
        f"FROM articles_fts JOIN {where.table} ON a.doc_id = articles_fts.rowid "
        "WHERE articles_fts MATCH :q AND articles_fts.rowid >= :lo AND " + where.sql
    )
    if total_df > budget:  # FTS5 walks the doclists newest first and stops at the nth
        params["nth"] = budget - 1
        sql = f"SELECT a.doc_id {src} ORDER BY articles_fts.rowid DESC LIMIT 1 OFFSET :nth"
        params["lo"] = int(conn.execute(text(sql), params).scalar() or 0)
    sql = (
        f"SELECT a.doc_id, -articles_fts.rank AS score, count(*) OVER () AS total {src} "
        "ORDER BY articles_fts.rank, a.doc_id LIMIT :limit OFFSET :offset"
    )
    rows = conn.execute(text(sql), {**params, "limit": limit, "offset": offset}).all()
    return _page(
        rows,
        lambda: int(conn.execute(text(f"SELECT count(*) {src}"), params).scalar()),
        limit,
        offset,
    )


def pg_search(
    conn: Connection,
    tokens: Sequence[str],
    where: Where,
    limit: int,
    offset: int,
    budget: int,
    dfs: Callable[[Sequence[str], Callable[[str], int]], dict],
    n_docs: Callable[[], int],
) -> tuple[list[tuple[int, float]], int]:
    """PostgreSQL tsvector search; see the module docstring."""

    def probe(token: str) -> int:
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM articles "
            "WHERE tsv @@ plainto_tsquery('english', :t) LIMIT :cap) s"
        )
        # budget + 1 postings tell whether a term fits; every counted posting is a heap fetch
        return int(conn.execute(text(sql), {"t": token, "cap": budget + 1}).scalar())

    found = dfs(tokens, probe)
    terms, total_df = choose_terms(found, budget)
    if not terms:
        return [], 0
    n = max(n_docs(), 1)
    params: dict = {**where.params, "lo": 0}
    tsq, score = [], []
    for i, t in enumerate(terms):
        df = found[t]
        params[f"t{i}"] = t
        params[f"w{i}"] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        tsq.append(f"plainto_tsquery('english', :t{i})")
        score.append(f"ts_rank(x.v, plainto_tsquery('english', :t{i})) * :w{i}")
    cond = f"a.tsv @@ ({' || '.join(tsq)}) AND a.doc_id >= :lo AND {where.sql}"
    src = f"FROM articles a WHERE {cond}"
    if total_df > budget:
        params["nth"] = budget - 1
        sql = f"SELECT a.doc_id {src} ORDER BY a.doc_id DESC LIMIT 1 OFFSET :nth"
        params["lo"] = int(conn.execute(text(sql), params).scalar() or 0)
    # x.v: the row's tsvector detoasted once (OFFSET 0 keeps the subquery from being inlined),
    # not once per ts_rank call: ~40% cheaper with three terms
    sql = (
        f"SELECT a.doc_id, ({' + '.join(score)}) AS score, count(*) OVER () AS total "
        "FROM articles a CROSS JOIN LATERAL (SELECT a.tsv || ''::tsvector AS v OFFSET 0) x "
        f"WHERE {cond} ORDER BY score DESC, a.doc_id LIMIT :limit OFFSET :offset"
    )
    rows = conn.execute(text(sql), {**params, "limit": limit, "offset": offset}).all()
    return _page(
        rows,
        lambda: int(conn.execute(text(f"SELECT count(*) {src}"), params).scalar()),
        limit,
        offset,
    )
