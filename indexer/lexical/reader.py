"""Reading one published lexical index (a Tantivy directory of one index version).

A published version's directory is never written again, so one searcher opened on it serves
every request of that version (Tantivy searchers are thread-safe and memory-map the
immutable segment files); a newer version is another directory, opened beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import tantivy

from indexer.errors import DamagedIndex
from indexer.filters import Filters
from indexer.lexical.analysis import TOKENIZER_NAME, Analysis, analyzer, query_terms
from indexer.lexical.query import expanded, filter_clauses, restrict, text_query, with_pmids
from indexer.lexical.schema import TEXT_FIELDS

Hits = list[tuple[int, float]]


class LexicalIndexError(DamagedIndex, RuntimeError):
    """The lexical index directory is missing or cannot be read (exit 3)."""


def open_index(path: str | os.PathLike[str], analysis: Analysis) -> tantivy.Index:
    """The Tantivy index at ``path`` with the analyser of ``analysis`` registered."""
    p = Path(path)
    if not (p / "meta.json").is_file():
        raise LexicalIndexError(f"{p} is not a lexical index (no meta.json): the index is damaged")
    try:
        index = tantivy.Index.open(str(p))
    except ValueError as e:
        raise LexicalIndexError(f"{p}: cannot open the lexical index ({e})") from e
    index.register_tokenizer(TOKENIZER_NAME, analyzer(analysis))
    return index


class LexicalIndex:
    """BM25 search, filters and id sets over one version's documents."""

    def __init__(self, path: str | os.PathLike[str], analysis: Analysis) -> None:
        self.path = Path(path)
        self.analysis = analysis
        self.index = open_index(path, analysis)
        self.index.reload()
        self.schema = self.index.schema
        self.searcher = self.index.searcher()

    @property
    def num_docs(self) -> int:
        return int(self.searcher.num_docs)

    # queries -----------------------------------------------------------------
    def text_query(self, text: str) -> tantivy.Query | None:
        """The BM25 query of plain text ``text``; None when it has no term to look for."""
        terms = self.query_terms(text)
        return text_query(self.schema, terms, self.analysis) if terms else None

    def query_terms(self, text: str) -> list[str]:
        """The distinct index terms plain text ``text`` looks for (``query_terms``)."""
        return query_terms(text, self.analysis, known=self.holds)

    def expanded(self, query: tantivy.Query, terms: Mapping[str, float]) -> tantivy.Query:
        """``query`` with the weighted expansion ``terms`` (index terms) added to its matches'
        scores (``indexer.lexical.query.expanded``)."""
        return expanded(self.schema, query, terms, self.analysis)

    def terms_of(self, text: str) -> list[str]:
        """The index terms of ``text`` in order, repeats kept (as the index analyses it)."""
        return list(analyzer(self.analysis).analyze(text))

    def filtered(
        self, query: tantivy.Query | None, filters: Filters | None, embeddable: bool = False
    ) -> tantivy.Query:
        return restrict(query, filter_clauses(self.schema, filters, embeddable))

    def holds(self, term: str) -> bool:
        """Whether some title or abstract holds the analysed term ``term``."""
        return any(self.searcher.doc_freq(f, term) for f in TEXT_FIELDS)

    # search ------------------------------------------------------------------
    def run(self, query: tantivy.Query, limit: int, offset: int = 0) -> tuple[Hits, int]:
        """((doc_id, score) best first for ranks [offset, offset+limit), total matches).

        Equal scores are ordered by ascending doc id within the page.
        """
        limit, offset = max(int(limit), 0), max(int(offset), 0)
        res = self.searcher.search(query, limit=max(limit, 1), count=True, offset=offset)
        hits = res.hits[:limit]
        if not hits:
            return [], int(res.count)
        ids = self.searcher.fast_field_values("doc_id", [a for _, a in hits])
        # best score first, ties by doc id (Tantivy orders ties by segment address)
        ordered = sorted(zip([-s for s, _ in hits], map(int, ids), strict=True))
        return [(d, -s) for s, d in ordered], int(res.count)

    def search(
        self, text: str, limit: int, filters: Filters | None = None, offset: int = 0
    ) -> tuple[Hits, int]:
        """BM25 results of plain text ``text`` among the documents passing ``filters``."""
        q = self.text_query(text)
        if q is None:
            return [], 0
        return self.run(self.filtered(q, filters), limit, offset)

    def run_newest(self, query: tantivy.Query, limit: int, offset: int = 0) -> tuple[Hits, int]:
        """Like :meth:`run`, ordered by publication year, newest first (score: the year;
        articles without a year last, then ascending doc id within a year)."""
        limit, offset = max(int(limit), 0), max(int(offset), 0)
        n = self.count(query)
        if n == 0 or limit == 0:
            return [], n
        hits = self.searcher.search(query, limit=n, count=False).hits
        addrs = [h[1] for h in hits]
        ids = self.searcher.fast_field_values("doc_id", addrs)
        years = self.searcher.fast_field_values("year", addrs)
        rows = sorted(
            ((int(d), float(y or 0)) for d, y in zip(ids, years, strict=True)),
            key=lambda x: (-x[1], x[0]),
        )
        return rows[offset : offset + limit], n

    def doc_ids_of(
        self, pmids: Iterable[int], within: tantivy.Query | None = None
    ) -> dict[int, int]:
        """PMID -> doc id of those of ``pmids`` that are in this version (and match
        ``within``, when given)."""
        wanted = sorted({int(p) for p in pmids})
        if not wanted:
            return {}
        q = restrict(with_pmids(self.schema, wanted), [within] if within is not None else [])
        n = self.count(q)
        if n == 0:
            return {}
        addrs = [h[1] for h in self.searcher.search(q, limit=n, count=False).hits]
        ids = self.searcher.fast_field_values("doc_id", addrs)
        found = self.searcher.fast_field_values("pmid", addrs)
        return {int(p): int(d) for p, d in zip(found, ids, strict=True)}

    def count(self, query: tantivy.Query) -> int:
        return int(self.searcher.search(query, limit=1, count=True).count)

    def ids(self, query: tantivy.Query) -> np.ndarray:
        """Sorted doc ids of every document matching ``query``."""
        n = self.count(query)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        hits = self.searcher.search(query, limit=n, count=False).hits
        ids = self.searcher.fast_field_values("doc_id", [h[1] for h in hits])
        return np.sort(np.asarray(ids, dtype=np.int64))

    def among(self, query: tantivy.Query, doc_ids: Iterable[int]) -> np.ndarray:
        """Sorted doc ids among ``doc_ids`` that match ``query``."""
        ids = sorted({int(d) for d in doc_ids})
        if not ids:
            return np.empty(0, dtype=np.int64)
        subset = tantivy.Query.term_set_query(self.schema, "doc_id", ids)
        q = tantivy.Query.boolean_query([(tantivy.Occur.Must, subset), (tantivy.Occur.Must, query)])
        return self.ids(q)

    def filter_ids(self, filters: Filters | None, embeddable: bool = True) -> np.ndarray:
        return self.ids(self.filtered(None, filters, embeddable))

    def filter_count(self, filters: Filters | None, embeddable: bool = True) -> int:
        return self.count(self.filtered(None, filters, embeddable))

    def matching(
        self, doc_ids: Iterable[int], filters: Filters | None, embeddable: bool = True
    ) -> np.ndarray:
        return self.among(self.filtered(None, filters, embeddable), doc_ids)
