"""The lexical index: a Tantivy index per published version, beside the FAISS file.

Public names: :class:`Analysis` / :data:`DEFAULT_ANALYSIS` (text analysis, recorded in the
manifest), :func:`query_terms`, :class:`LexicalIndex` (reader: BM25 search, filters, id
sets), :func:`stage` and :func:`write` (a build's steps), :class:`LexicalIndexError`.
Modules: ``analysis``, ``schema`` (fields and documents), ``query`` (text and filter
queries), ``reader``, ``writer``.
"""

from indexer.lexical.analysis import DEFAULT as DEFAULT_ANALYSIS
from indexer.lexical.analysis import Analysis, query_terms
from indexer.lexical.reader import LexicalIndex, LexicalIndexError
from indexer.lexical.writer import stage, write

__all__ = [
    "DEFAULT_ANALYSIS",
    "Analysis",
    "LexicalIndex",
    "LexicalIndexError",
    "query_terms",
    "stage",
    "write",
]
