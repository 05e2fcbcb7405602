"""One published index version opened for reading, and the article sets a request selects.

:class:`IndexState` holds everything one request needs of a version (manifest, FAISS index,
lexical index, store, vector file, query embedder); :class:`Selection` is what restricts a
search (filters and, with ``syntax=pubmed``, an advanced expression). Both are evaluated by
the version's lexical index, so a selection is exact for every mode.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from indexer.filters import Filters
from indexer.lexical.query import exclude
from indexer.manifest import Manifest
from search.embedding import LRUCache, QueryEmbedder
from search.passages import PassageFinder
from search.retractions import Marks
from search.retractions import marks as retraction_marks

if TYPE_CHECKING:
    import tantivy

    from indexer.lexical import LexicalIndex
    from indexer.store import Store
    from indexer.vectors import VectorFile, VectorIndex

FILTER_COUNT_CACHE = 512
FILTER_SUBSET_CACHE = 16
SUBSET_MATCH_MAX = 100_000
"""Selections up to this size check candidates against their (cached) id set with numpy;
larger ones ask the lexical index. Measured by ``bench/search.py`` at 100k (4% MeSH filter,
hybrid): the Tantivy lookup of ~5,000 candidates cost 29 of 44 ms."""


def guarded(expression: str | None) -> AbstractContextManager[None]:
    """Around every search of a request with an ``expression``: Tantivy's refusals to
    expand a truncation become the expression's 400 (``indexer.lexical.syntax.guard``)."""
    if expression is None:
        return contextlib.nullcontext()
    from indexer.lexical import syntax

    return syntax.guard(syntax.parse(expression))


def expression_text(expression: str) -> str:
    """The free-text terms of a PubMed-syntax expression: what dense ranking embeds."""
    from indexer.lexical import syntax

    return " ".join(syntax.text_terms(syntax.parse(expression))) or expression


@dataclass(frozen=True)
class Selection:
    """The articles a search may return: ``filters`` and a PubMed-syntax ``expression``."""

    filters: Filters | None = None
    expression: str | None = None

    def query(
        self,
        lexical: LexicalIndex,
        embeddable: bool,
        retracted: Callable[[], np.ndarray],
        base: tantivy.Query | None = None,
    ) -> tantivy.Query:
        """The Tantivy query selecting these articles (scores: BM25 of the text terms of the
        expression, else of ``base``, a plain-text query); ``retracted``: the version's
        retracted doc ids, asked for when the filters exclude them."""
        if self.expression is not None:
            from indexer.lexical import syntax

            base = syntax.compile(syntax.parse(self.expression), lexical.schema, lexical.analysis)
        q = lexical.filtered(base, self.filters, embeddable)
        if self.filters is not None and self.filters.exclude_retracted:
            q = exclude(lexical.schema, q, retracted().tolist())
        return q


@dataclass(frozen=True)
class IndexState:
    """One published version, opened for reading."""

    version: int
    manifest: Manifest
    index: VectorIndex
    lexical: LexicalIndex  # BM25, filters and facets over this version's articles
    store: Store  # read-only
    vectors: VectorFile  # read-only
    embedder: QueryEmbedder
    model: str  # the model that embeds queries
    rescore: bool  # re-score dense candidates exactly from the vectors (search.dense)
    rescore_depth: int  # ... at least this many (the index's recorded depth)
    # Per-version caches of selections (a Selection is hashable): counts, and the (rarely
    # needed) materialised id sets of selections too narrow to post-filter.
    counts: LRUCache = field(default_factory=lambda: LRUCache(FILTER_COUNT_CACHE))
    subsets: LRUCache = field(default_factory=lambda: LRUCache(FILTER_SUBSET_CACHE))
    _marks: list[Marks] = field(default_factory=list)  # computed on first use
    _marks_lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        self.store.close()

    def marks(self) -> Marks:
        """Retractions and expressions of concern at this version (``search.retractions``)."""
        with self._marks_lock:
            if not self._marks:
                self._marks.append(retraction_marks(self.lexical, self.store))
            return self._marks[0]

    def retracted_ids(self) -> np.ndarray:
        return self.marks().retracted_ids

    def select(
        self, selection: Selection, embeddable: bool, base: tantivy.Query | None = None
    ) -> tantivy.Query:
        """The lexical query of ``selection`` at this version (``base``: a plain-text query
        the selection restricts)."""
        return selection.query(self.lexical, embeddable, self.retracted_ids, base)

    def filter_count(self, selection: Selection) -> int:
        """How many embedded articles ``selection`` holds at this version (cached)."""
        count = self.counts.get(selection)
        if count is None:
            count = self.lexical.count(self.select(selection, embeddable=True))
            self.counts.put(selection, count)
        return count

    def filter_subset(self, selection: Selection) -> np.ndarray:
        """The sorted doc ids of the embedded articles of ``selection`` (cached)."""
        ids = self.subsets.get(selection)
        if ids is None:
            ids = self.lexical.ids(self.select(selection, embeddable=True))
            ids.setflags(write=False)
            self.subsets.put(selection, ids)
            self.counts.put(selection, len(ids))
        return ids

    def matching(self, selection: Selection, doc_ids: np.ndarray) -> np.ndarray:
        """Those of ``doc_ids`` that ``selection`` holds, sorted."""
        if self.filter_count(selection) <= SUBSET_MATCH_MAX:
            ids = np.unique(np.asarray(doc_ids, dtype=np.int64))
            return ids[np.isin(ids, self.filter_subset(selection), assume_unique=True)]
        return self.lexical.among(self.select(selection, embeddable=True), doc_ids)

    def passage_finder(self) -> PassageFinder:
        """Passages of at most 128 tokens of this version's query tokenizer, scored with its
        lexical analysis (``search.passages``)."""
        encoder = self.embedder.encoder
        return PassageFinder(encoder.count_tokens, encoder.token_offsets, self.lexical.analysis)

    def all_ids(self) -> np.ndarray:
        return self.store.visible_embedded_ids(self.version)
