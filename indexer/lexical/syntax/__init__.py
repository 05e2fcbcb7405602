"""PubMed-style advanced search (``syntax=pubmed``): :func:`parse` reads an expression into a
small AST (``tree``; the language and its semantics: ``parser``), :func:`compile` turns it
into a Tantivy query over the lexical index, :func:`text_terms` lists its free-text terms to
rank by in dense and hybrid modes, and a search with the compiled query runs inside
:func:`guard` (``with guard(expr): ix.run(q, k)``). Every malformed input raises
:class:`QuerySyntaxError` (HTTP 400, exit 2) with the 0-based offset of the offending token.
"""

from indexer.lexical.syntax.compiler import compile, guard
from indexer.lexical.syntax.parser import MAX_CHARS, MAX_DEPTH, MAX_TERMS, parse
from indexer.lexical.syntax.tree import (
    And,
    DateRange,
    Expr,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    text_terms,
)

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_TERMS",
    "And",
    "DateRange",
    "Expr",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Term",
    "compile",
    "guard",
    "parse",
    "text_terms",
]
