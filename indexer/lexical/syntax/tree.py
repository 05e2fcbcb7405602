"""The AST of a PubMed-style expression, its error, and what is read off a parsed one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

from indexer.errors import InvalidParameter

TEXT_TAGS = ("tiab", "ti", "ab")
"""Canonical tags of title/abstract text (analysed, ranked by BM25)."""
RAW_TAGS = ("mh", "majr", "au", "ta", "pt", "la")
"""Canonical tags of field values (raw terms, selection only); ``dp`` is a :class:`DateRange`."""


class QuerySyntaxError(InvalidParameter):
    """A malformed search expression: ``position`` is the offending token's 0-based offset."""

    def __init__(self, what: str, position: int) -> None:
        super().__init__(f"syntax: {what} at position {position}")
        self.what = what
        self.position = position


@dataclass(frozen=True)
class Term:
    """A term in one field (a canonical tag): words, a phrase (``quoted``), or a value.

    ``text`` is as written, without quotes or the truncation ``*`` (``truncated``); words of a
    run are joined by single spaces. ``position``: offset of its first character.
    """

    field: str
    text: str
    position: int = 0
    quoted: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class DateRange:
    """``[dp]``: publication years ``start``..``end`` inclusive (None: open)."""

    start: int | None
    end: int | None
    position: int = 0


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """``base NOT e1 NOT e2 ...``: ``base`` and none of ``excluded``."""

    base: Expr
    excluded: tuple[Expr, ...]


Expr = Union[Term, DateRange, And, Or, Not]  # noqa: UP007 (a runtime alias on Python 3.10)


def text_terms(expr: Expr) -> list[str]:
    """The free-text terms of ``expr`` outside any NOT, in order, distinct (case-insensitive).

    Title/abstract terms only (words, phrases, truncation stems); field values such as
    authors, MeSH or dates are selection, not text to rank by.
    """
    out: list[str] = []
    seen: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Term):
            if e.field in TEXT_TAGS and e.text.lower() not in seen:
                seen.add(e.text.lower())
                out.append(e.text)
        elif isinstance(e, (And, Or)):
            stack.extend(reversed(e.items))
        elif isinstance(e, Not):
            stack.append(e.base)
    return out


def leaves(expr: Expr) -> Iterator[Term | DateRange]:
    """The terms and date ranges of ``expr``, NOTs included, left to right."""
    stack: list[Expr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, (And, Or)):
            stack.extend(reversed(e.items))
        elif isinstance(e, Not):
            stack.extend(reversed((e.base, *e.excluded)))
        else:
            yield e
