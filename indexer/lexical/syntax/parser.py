"""Parsing a PubMed-style advanced search expression into its AST (``tree``).

:func:`parse` turns the text into an :data:`Expr` (``tree``), tokenised by ``lexer``; every
malformed input raises :class:`QuerySyntaxError` (HTTP 400, exit 2) with the 0-based
character offset of the offending token, and nothing else is raised for any text.

Semantics, following the PubMed User Guide and NLM's PubMed tutorial where they define them:

- **Operators** ``AND``, ``OR``, ``NOT`` only in upper case (PubMed: "must be entered in
  UPPERCASE"); a lower-case ``and`` is a search term. Operators are processed **left to
  right, without precedence** ("PubMed processes Boolean connectors in a left-to-right
  sequence"; parentheses nest): ``a OR b AND c`` is ``(a OR b) AND c``, ``a AND b OR c`` is
  ``(a AND b) OR c``. Adjacent terms without an operator are ANDed (PubMed's default).
  ``NOT`` needs something before it (``a NOT b`` is *a and not b*; a leading ``NOT`` is an
  error, as in PubMed).
- **Terms**: a run of words up to the next operator, parenthesis, quote or field tag is one
  term, and a field tag applies to the whole run (PubMed parses "the terms on either side of
  the operator" into one concept): ``smith j[au]`` is one author, ``breast cancer[ti]`` is
  *breast* and *cancer* in the title. PubMed would first look the run up in its phrase index;
  here the words are simply ANDed in the field (quote them for a phrase). A word that the
  tokenizer splits (``foo/bar``) is searched as the phrase of its parts. Two exceptions,
  as their values are single words: ``[la]`` applies to the last word only and ``[dp]`` to
  the trailing date-like words (digits, ``/``, ``:``), so ``lung cancer 2015[dp]`` is
  ``lung cancer AND 2015[dp]``. Other field values may have spaces (``lung
  neoplasms[mh]``, ``j biol chem[ta]``): separate other words from them with an operator.
- **Untagged** terms search title and abstract (``[tiab]``). PubMed's *automatic term
  mapping* (to MeSH, journals, authors, synonyms) is **not done**.
- **Field tags**, case-insensitive, short or long: ``[tiab]`` ``[Title/Abstract]``, ``[ti]``
  ``[Title]``, ``[ab]`` ``[Abstract]``, ``[mh]`` ``[mesh]`` ``[MeSH Terms]`` (also
  ``:noexp``), ``[majr]`` ``[MeSH Major Topic]``, ``[au]`` ``[Author]``, ``[ta]``
  ``[Journal]`` ``[jour]``, ``[pt]`` ``[Publication Type]``, ``[la]`` ``[lang]``
  ``[Language]``, ``[dp]`` ``[pdat]`` ``[Date - Publication]``. Whitespace inside a tag and
  before it is ignored.
- ``[mh]`` / ``[majr]`` match a descriptor name or UI (``D001249``) exactly: **no explosion**
  (the MeSH tree is not in the citation XML, so narrower descriptors cannot be added; this
  is PubMed's ``[mh:noexp]``), no entry terms, no subheadings (``/therapy``).
- ``[au]``: "Last Initials" as MEDLINE stores it. Initials are truncated implicitly, as in
  PubMed: ``smith j`` finds *Smith J*, *Smith JA*, *Smith JB*; ``smith ja`` finds *Smith JA*
  (and a three-initial *Smith JAB*) but not *Smith J* or *Smith JB*; a last name alone
  (``smith``) finds every *Smith* with any initials, never *Smithson*. The last word is taken
  for initials when there are two or more words and it has at most 3 letters. Quoting
  (``"smith j"[au]``) turns the truncation off: that exact name. Full-name forms
  (``john smith``) are not recognised.
- ``[ta]``: the journal's title or ISO abbreviation, periods optional
  (``j biol chem[ta]`` finds *J. Biol. Chem.*).
- ``[la]``: MEDLINE codes (``eng``) or English names of languages (``english``, ``french``
  ...: ``compiler.LANGUAGES``); ``[la]`` applies to one word.
- ``[dp]``: ``YYYY``, ``YYYY/MM``, ``YYYY/MM/DD`` and ranges ``A:B`` of those (PubMed's
  forms; ``2015:3000[dp]`` is PubMed's idiom for "2015 on"). Open ranges ``2015:`` and
  ``:2020`` are accepted too. Only the year is stored, so months and days are checked and
  then dropped: ``2020/06:2021/01[dp]`` is the years 2020-2021. A range ending before it
  starts is an error.
- ``"quoted phrase"``: the words adjacent and in order in the field (positional phrase of
  the analysed tokens). When the index keeps stop words (``Analysis.index_stopwords``, the
  default) they are part of the phrase; when it leaves them out, they are gaps of one word
  each (``"cancer of the lung"`` matches *cancer X Y lung*), and a term or phrase of stop
  words only is left out of its AND / OR / NOT, as PubMed ignores stop words (an expression
  of nothing else matches nothing).
- ``term*`` truncation: every index term starting with the stem, at least **4 characters
  before the ``*``** (the PubMed minimum; shorter stems are an error), ``*`` only at the end
  of a word; ``"breast feed*"`` truncates a phrase's last word, as PubMed allows (Tantivy
  expands it to at most 16,384 terms: see :func:`guard`; a single truncated word has no
  cap). Index terms are stemmed when the
  analysis stems, so the stem is matched against stemmed terms (``bacteri*`` finds
  *bacteria*, *bacterial*); the stem's own stemmed form always matches too. A truncation
  ranks with a constant score (Tantivy's automaton queries do not score by BM25).
- Limits: :data:`MAX_CHARS` characters, :data:`MAX_TERMS` terms, field values (authors,
  journals...) of :data:`MAX_VALUE_CHARS` characters, and :data:`MAX_DEPTH`
  levels of nesting, counting parentheses and each change of operator in a left-to-right
  chain (``a AND b OR c AND d`` nests 3 deep).

Not supported: automatic term mapping, MeSH explosion and subheadings, ``[tw]`` / ``[all]``
and other tags (the fields are not in the index), proximity (``[tiab:~N]``), wildcards
other than a trailing ``*``, search history (``#1``), full author names.
"""

from __future__ import annotations

import datetime
import re

from indexer.lexical.syntax.lexer import Tok, lex
from indexer.lexical.syntax.tree import (
    TEXT_TAGS,
    And,
    DateRange,
    Expr,
    Not,
    Or,
    QuerySyntaxError,
    Term,
)

MAX_CHARS = 4000
MAX_TERMS = 256
MAX_DEPTH = 32
MAX_VALUE_CHARS = 300
MIN_TRUNCATION = 4
TAGS = {
    "tiab": "tiab",
    "title/abstract": "tiab",
    "ti": "ti",
    "title": "ti",
    "ab": "ab",
    "abstract": "ab",
    "mh": "mh",
    "mesh": "mh",
    "meshterms": "mh",
    "mh:noexp": "mh",
    "mesh:noexp": "mh",
    "meshterms:noexp": "mh",
    "majr": "majr",
    "meshmajortopic": "majr",
    "majr:noexp": "majr",
    "meshmajortopic:noexp": "majr",
    "au": "au",
    "author": "au",
    "ta": "ta",
    "journal": "ta",
    "jour": "ta",
    "dp": "dp",
    "pdat": "dp",
    "date-publication": "dp",
    "publicationdate": "dp",
    "pt": "pt",
    "publicationtype": "pt",
    "ptyp": "pt",
    "la": "la",
    "lang": "la",
    "language": "la",
}
"""Field tag (lower-cased, whitespace removed) -> canonical tag."""

_ALNUM = re.compile(r"[^\W_]")
_DATE = re.compile(r"(\d{4})(?:/(\d{1,2})(?:/(\d{1,2}))?)?")


def _depth(e: Expr) -> int:
    return getattr(e, "_depth", 1)


def _node(cls: type, depth: int, *args: object) -> Expr:
    node = cls(*args)
    object.__setattr__(node, "_depth", depth)  # parse-time bookkeeping, not a field
    return node


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = lex(text)
        self.i = 0
        self.terms = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def sequence(self, level: int) -> Expr | None:
        """Units and operators up to a ``)`` or the end, combined left to right."""
        acc: Expr | None = None
        op: Tok | None = None
        while (tok := self.peek()) is not None and tok.kind != ")":
            if tok.kind == "op":
                if acc is None:
                    raise QuerySyntaxError(f"{tok.text} with nothing before it", tok.pos)
                if op is not None:
                    raise QuerySyntaxError(f"operator {tok.text} after operator {op.text}", tok.pos)
                op = self.take()
                continue
            unit = self.unit(level)
            acc = unit if acc is None else self.combine(op, acc, unit, level, tok.pos)
            op = None
        if op is not None:
            raise QuerySyntaxError(f"{op.text} with nothing after it", op.pos)
        return acc

    def combine(self, op: Tok | None, acc: Expr, unit: Expr, level: int, pos: int) -> Expr:
        name = "AND" if op is None else op.text
        if name == "NOT" and isinstance(acc, Not):
            depth = max(_depth(acc), _depth(unit) + 1)
            node = _node(Not, depth, acc.base, (*acc.excluded, unit))
        elif name == "NOT":
            node = _node(Not, max(_depth(acc), _depth(unit)) + 1, acc, (unit,))
        else:
            cls = And if name == "AND" else Or
            if isinstance(acc, cls):
                depth = max(_depth(acc), _depth(unit) + 1)
                node = _node(cls, depth, (*acc.items, unit))
            else:
                node = _node(cls, max(_depth(acc), _depth(unit)) + 1, (acc, unit))
        if level + _depth(node) > MAX_DEPTH:
            raise QuerySyntaxError(f"expression nested deeper than {MAX_DEPTH} levels", pos)
        return node

    def unit(self, level: int) -> Expr:
        tok = self.take()
        if tok.kind == "(":
            if level + 1 > MAX_DEPTH:
                raise QuerySyntaxError(f"expression nested deeper than {MAX_DEPTH} levels", tok.pos)
            inner = self.sequence(level + 1)
            close = self.peek()
            if close is None or close.kind != ")":
                raise QuerySyntaxError("unbalanced parenthesis", tok.pos)
            self.take()
            if inner is None:
                raise QuerySyntaxError("empty parentheses", tok.pos)
            if (tag := self.peek()) is not None and tag.kind == "tag":
                raise QuerySyntaxError("a field tag must follow a term, not parentheses", tag.pos)
            return inner
        if tok.kind == ")":
            raise QuerySyntaxError("unbalanced parenthesis", tok.pos)
        if tok.kind == "tag":
            raise QuerySyntaxError(f"field tag [{tok.text}] with no term before it", tok.pos)
        run = [tok]
        while tok.kind == "word" and (nxt := self.peek()) is not None and nxt.kind == "word":
            run.append(self.take())
        field = "tiab"
        if (nxt := self.peek()) is not None and nxt.kind == "tag":
            key = "".join(nxt.text.lower().split())
            if key not in TAGS:
                raise QuerySyntaxError(f"unknown field tag [{nxt.text.strip()}]", nxt.pos)
            tail = _tail(run, TAGS[key])
            if tail < len(run):  # words before a date or language: a term of their own
                self.i -= tail
                run = run[: len(run) - tail]
            else:
                self.take()
                field = TAGS[key]
        self.terms += len(run) if field in TEXT_TAGS else 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(f"more than {MAX_TERMS} terms", run[0].pos)
        if tok.kind == "phrase":
            return _phrase(tok, field)
        return _run(run, field)


_DATE_WORD = re.compile(r"[\d/:]+")


def _tail(run: list[Tok], field: str) -> int:
    """How many of the run's last words a ``field`` tag applies to: a language is one word,
    a date the date-like words (``2015``, ``2015 : 2020``); other values are the whole run."""
    if run[0].kind == "phrase" or field not in ("dp", "la"):
        return len(run)
    if field == "la":
        return 1
    n = 0
    while n < len(run) and _DATE_WORD.fullmatch(run[len(run) - 1 - n].text):
        n += 1
    return max(n, 1)


def _check_truncation(stem: str, pos: int, whole: bool) -> None:
    if "*" in stem:
        raise QuerySyntaxError("'*' is only allowed at the end of a word", pos)
    last = stem.strip() if whole else (stem.split() or [""])[-1]
    if not last or not _ALNUM.fullmatch(last[-1]):
        raise QuerySyntaxError("'*' must follow a letter or digit", pos)
    if len(last) < MIN_TRUNCATION:
        raise QuerySyntaxError(
            f"truncation needs at least {MIN_TRUNCATION} characters before '*'", pos
        )


def _split_star(text: str, pos: int, whole: bool = False) -> tuple[str, bool]:
    """``text`` without a trailing ``*``, and whether it had one (``whole``: a field value,
    whose whole length counts for the minimum; else the last word's)."""
    if text.endswith("*"):
        _check_truncation(text[:-1], pos, whole)
        return text[:-1], True
    if "*" in text:
        raise QuerySyntaxError("'*' is only allowed at the end of a word", pos)
    return text, False


def _searchable(text: str, pos: int) -> None:
    if not _ALNUM.search(text):
        raise QuerySyntaxError(f"nothing to search for in {text[:40]!r}", pos)


def _phrase(tok: Tok, field: str) -> Expr:
    text = " ".join(tok.text.split())
    if not text:
        raise QuerySyntaxError("empty phrase", tok.pos)
    if field == "dp":
        return _date(text.replace(" ", ""), tok.pos)
    text, truncated = _split_star(text, tok.pos, whole=field not in TEXT_TAGS)
    term = Term(field, text, tok.pos, quoted=True, truncated=truncated)
    if field not in TEXT_TAGS:
        return _value(term)
    _searchable(text, tok.pos)
    return term


def _run(run: list[Tok], field: str) -> Expr:
    pos = run[0].pos
    if field == "dp":
        return _date("".join(t.text for t in run), pos)
    if field in TEXT_TAGS:
        terms = []
        for t in run:
            text, truncated = _split_star(t.text, t.pos)
            if _ALNUM.search(text):
                terms.append(Term(field, text, t.pos, truncated=truncated))
        if not terms:
            _searchable("".join(t.text for t in run), pos)
        return terms[0] if len(terms) == 1 else _node(And, 2, tuple(terms))
    for t in run[:-1]:
        if "*" in t.text:
            raise QuerySyntaxError("'*' is only allowed at the end of a term", t.pos)
    text, truncated = _split_star(" ".join(t.text for t in run), pos, whole=True)
    return _value(Term(field, text, pos, truncated=truncated))


def _value(t: Term) -> Term:
    """A field value (author, MeSH, journal...), checked."""
    _searchable(t.text, t.position)
    if len(t.text) > MAX_VALUE_CHARS:
        raise QuerySyntaxError(
            f"[{t.field}] value longer than {MAX_VALUE_CHARS} characters", t.position
        )
    return t


def _date_value(s: str, pos: int) -> int:
    m = _DATE.fullmatch(s)
    if not m:
        raise QuerySyntaxError(f"bad [dp] date {s[:40]!r} (use YYYY, YYYY/MM or YYYY/MM/DD)", pos)
    year, month, day = (int(g) if g else None for g in m.groups())
    try:
        datetime.date(max(year, 1), month or 1, day or 1)
    except ValueError:
        raise QuerySyntaxError(f"bad [dp] date {s!r}", pos) from None
    return year


def _date(value: str, pos: int) -> DateRange:
    if value.count(":") > 1 or value == ":":
        raise QuerySyntaxError(f"bad [dp] range {value[:40]!r} (use A:B)", pos)
    if ":" not in value:
        year = _date_value(value, pos)
        return DateRange(year, year, pos)
    lo, hi = value.split(":")
    start = _date_value(lo, pos) if lo else None
    end = _date_value(hi, pos) if hi else None
    if start is not None and end is not None and end < start:
        raise QuerySyntaxError(f"[dp] range {value!r} ends before it starts", pos)
    return DateRange(start, end, pos)


def parse(text: str) -> Expr:
    """The AST of PubMed-style expression ``text`` (see the module docstring).

    Raises :class:`QuerySyntaxError` for any malformed text, and for nothing else.
    """
    if not isinstance(text, str):
        raise QuerySyntaxError("the expression must be text", 0)
    if len(text) > MAX_CHARS:
        raise QuerySyntaxError(f"expression longer than {MAX_CHARS} characters", MAX_CHARS)
    p = _Parser(text)
    expr = p.sequence(0)
    if (tok := p.peek()) is not None:  # a ')' the top level did not open
        raise QuerySyntaxError("unbalanced parenthesis", tok.pos)
    if expr is None:
        raise QuerySyntaxError("empty expression", 0)
    return expr
