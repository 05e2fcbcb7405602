"""Compiling a parsed PubMed-style expression (``tree``) into one Tantivy query, and the guard
around a search with it.

- ``And`` / ``Or`` / ``Not``: Boolean queries of Must / Should / Must + MustNot clauses (a NOT
  always has a positive side: the parser requires one), so BM25 sums over the matching
  clauses.
- Title/abstract terms (``[tiab]``, untagged, ``[ti]``, ``[ab]``) go through the index's
  own analysis (:mod:`indexer.lexical.analysis`: :func:`words`, :func:`normalise`) and score
  by BM25; the title clause of ``[tiab]`` is boosted by ``analysis.title_boost``, as in plain
  queries. A word is a term query (a hyphenated compound also matches its glued form, as in
  plain queries), a phrase a positional phrase query of its analysed tokens, a truncation a
  regex query on the index terms (constant score).
- Field values (``[mh]``, ``[majr]``, ``[au]``, ``[ta]``, ``[pt]``, ``[la]``, ``[dp]``) are
  term, regex and range queries on the raw fields (``schema.key`` / ``mesh_key``), wrapped
  in constant-score queries of score 0: they select documents and never change a score (as
  ``query.restrict`` does for filters).

Regexes are built from literal text with every non-alphanumeric character written as a
``\\x{..}`` escape, so no input is ever regex syntax.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tantivy

from indexer.lexical.analysis import Analysis, normalise, words
from indexer.lexical.schema import key, mesh_key
from indexer.lexical.syntax.tree import (
    TEXT_TAGS,
    And,
    DateRange,
    Expr,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    leaves,
)
from indexer.text import STOP_WORDS

Occur = tantivy.Occur
Q = tantivy.Query
_TEXT_FIELDS = {"tiab": ("title", "abstract"), "ti": ("title",), "ab": ("abstract",)}
_RAW_FIELDS = {
    "mh": "mesh",
    "majr": "majr",
    "au": "author",
    "ta": "journal",
    "pt": "pubtype",
    "la": "language",
}
_INITIALS_MAX = 3

LANGUAGES = {
    "afrikaans": "afr",
    "albanian": "alb",
    "arabic": "ara",
    "armenian": "arm",
    "bosnian": "bos",
    "bulgarian": "bul",
    "catalan": "cat",
    "chinese": "chi",
    "croatian": "hrv",
    "czech": "cze",
    "danish": "dan",
    "dutch": "dut",
    "english": "eng",
    "esperanto": "epo",
    "estonian": "est",
    "finnish": "fin",
    "french": "fre",
    "georgian": "geo",
    "german": "ger",
    "greek": "gre",
    "hebrew": "heb",
    "hindi": "hin",
    "hungarian": "hun",
    "icelandic": "ice",
    "indonesian": "ind",
    "italian": "ita",
    "japanese": "jpn",
    "korean": "kor",
    "latin": "lat",
    "latvian": "lav",
    "lithuanian": "lit",
    "macedonian": "mac",
    "malay": "may",
    "norwegian": "nor",
    "persian": "per",
    "polish": "pol",
    "portuguese": "por",
    "romanian": "rum",
    "russian": "rus",
    "serbian": "srp",
    "slovak": "slo",
    "slovenian": "slv",
    "spanish": "spa",
    "swedish": "swe",
    "thai": "tha",
    "turkish": "tur",
    "ukrainian": "ukr",
    "urdu": "urd",
    "vietnamese": "vie",
    "welsh": "wel",
}
"""English language names -> MEDLINE language codes (``[la]`` accepts either)."""


def literal(text: str) -> str:
    """A regex matching exactly ``text`` (every non-alphanumeric character hex-escaped)."""
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{{{ord(c):x}}}" for c in text)


# -- title / abstract ---------------------------------------------------------------------
def _fields(schema: tantivy.Schema, field: str, analysis: Analysis, build) -> tantivy.Query:
    """``build(name)`` on each index field of tag ``field``, ORed (title boosted for tiab)."""
    clauses = []
    for name in _TEXT_FIELDS[field]:
        q = build(name)
        if name == "title" and field == "tiab" and analysis.title_boost != 1.0:
            q = Q.boost_query(q, analysis.title_boost)
        clauses.append((Occur.Should, q))
    return clauses[0][1] if len(clauses) == 1 else Q.boolean_query(clauses)


def _positions(tokens: list[str], analysis: Analysis) -> list[tuple[int, str]]:
    """(offset, index term) of the tokens the index holds: stop words are gaps when left out."""
    return [
        (i, normalise(w, analysis))
        for i, w in enumerate(tokens)
        if analysis.index_stopwords or w not in STOP_WORDS
    ]


def _text(t: Term, schema: tantivy.Schema, analysis: Analysis) -> tantivy.Query | None:
    """None: only stop words the index leaves out (the term is ignored, as PubMed does)."""
    tokens = words(t.text, analysis.token)
    if not tokens:  # the parser only lets through text with a letter or digit
        return Q.empty_query()
    if t.truncated:
        return _truncated(t, tokens, schema, analysis)
    if len(tokens) == 1 and not t.quoted:
        w = tokens[0]
        if not analysis.index_stopwords and w in STOP_WORDS:
            return None
        alts = [normalise(w, analysis)]
        if "-" in w and normalise(w.replace("-", ""), analysis) not in alts:
            alts.append(normalise(w.replace("-", ""), analysis))  # covid-19 ~ covid19

        def build(name: str) -> tantivy.Query:
            qs = [Q.term_query(schema, name, a, index_option="freq") for a in alts]
            return qs[0] if len(qs) == 1 else Q.boolean_query([(Occur.Should, q) for q in qs])

        return _fields(schema, t.field, analysis, build)
    pos = _positions(tokens, analysis)
    if not pos:
        return None
    if len(pos) == 1:
        term = pos[0][1]
        return _fields(schema, t.field, analysis, lambda n: Q.term_query(schema, n, term, "freq"))
    first = pos[0][0]
    phrase = [(i - first, w) for i, w in pos]
    return _fields(schema, t.field, analysis, lambda n: Q.phrase_query(schema, n, phrase))


def _truncated(
    t: Term, tokens: list[str], schema: tantivy.Schema, analysis: Analysis
) -> tantivy.Query:
    """The last token is a prefix of index terms (or its own stemmed form); earlier ones (a
    phrase, or a word the tokenizer splits) must precede it as a phrase."""
    stem = tokens[-1]
    prefix = literal(stem) + ".*"
    own = normalise(stem, analysis)
    if own != stem and not own.startswith(stem):
        prefix = f"(?:{prefix}|{literal(own)})"
    pos = _positions(tokens[:-1], analysis)
    if not pos:
        return _fields(schema, t.field, analysis, lambda n: Q.regex_query(schema, n, prefix))
    first = pos[0][0]
    phrase = [(i - first, literal(w)) for i, w in pos] + [(len(tokens) - 1 - first, prefix)]
    return _fields(schema, t.field, analysis, lambda n: Q.regex_phrase_query(schema, n, phrase))


# -- field values -------------------------------------------------------------------------
def _author(t: Term, schema: tantivy.Schema) -> tantivy.Query:
    name = " ".join(key(t.text).split())
    if t.truncated:
        return Q.regex_query(schema, "author", literal(name) + ".*")
    if t.quoted:
        return Q.term_query(schema, "author", name, index_option="basic")
    parts = name.split(" ")
    last = parts[-1]
    if len(parts) >= 2 and len(last) <= _INITIALS_MAX and last.isalpha():
        return Q.regex_query(schema, "author", literal(name) + "[^ ]*")  # initials go on
    return Q.regex_query(schema, "author", literal(name) + "(?: .*)?")  # any initials


def _journal(t: Term, schema: tantivy.Schema) -> tantivy.Query:
    """Title or ISO abbreviation, periods optional (``j biol chem`` ~ ``j. biol. chem.``)."""
    ws = key(t.text).replace(".", " ").split()
    regex = " ".join(literal(w) + r"\.?" for w in ws)
    return Q.regex_query(schema, "journal", regex + (".*" if t.truncated else ""))


def _raw(t: Term, schema: tantivy.Schema) -> tantivy.Query:
    if t.field == "au":
        return _author(t, schema)
    if t.field == "ta":
        return _journal(t, schema)
    field = _RAW_FIELDS[t.field]
    value = " ".join(t.text.split())
    if t.field in ("mh", "majr"):
        value = mesh_key(value)
    else:
        value = key(value)
        if t.field == "la":
            value = LANGUAGES.get(value, value)
    if t.truncated:
        return Q.regex_query(schema, field, literal(value) + ".*")
    return Q.term_query(schema, field, value, index_option="basic")


# -- the tree -----------------------------------------------------------------------------
def _leaf(e: Term | DateRange, schema: tantivy.Schema, analysis: Analysis) -> tantivy.Query | None:
    if isinstance(e, DateRange):
        q = Q.range_query(schema, "year", tantivy.FieldType.Integer, e.start, e.end)
        return Q.const_score_query(q, 0.0)
    if e.field in TEXT_TAGS:
        return _text(e, schema, analysis)
    return Q.const_score_query(_raw(e, schema), 0.0)


def compile(expr: Expr, schema: tantivy.Schema, analysis: Analysis) -> tantivy.Query:
    """The Tantivy query of ``expr`` (iterative: no recursion limit to reach).

    A term of stop words only, on an index without them, is left out of its AND / OR / NOT
    (PubMed ignores stop words); an expression of nothing else matches nothing.
    """
    values: list[tantivy.Query | None] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if isinstance(e, (Term, DateRange)):
            try:
                values.append(_leaf(e, schema, analysis))
            except ValueError as err:  # e.g. a regex Tantivy will not build
                what = "[dp] range" if isinstance(e, DateRange) else f"[{e.field}] term"
                raise QuerySyntaxError(f"cannot search for this {what}", e.position) from err
            continue
        children = e.items if isinstance(e, (And, Or)) else (e.base, *e.excluded)
        if not expanded:
            stack.append((e, True))
            stack.extend((c, False) for c in reversed(children))
            continue
        subs = values[len(values) - len(children) :]
        del values[len(values) - len(children) :]
        if isinstance(e, Not):
            if subs[0] is None:
                values.append(None)
                continue
            clauses = [(Occur.Must, subs[0])] + [(Occur.MustNot, q) for q in subs[1:] if q]
        else:
            occur = Occur.Must if isinstance(e, And) else Occur.Should
            clauses = [(occur, q) for q in subs if q is not None]
        values.append(Q.boolean_query(clauses) if clauses else None)
    return values[0] if values[0] is not None else Q.empty_query()


@contextlib.contextmanager
def guard(expr: Expr) -> Iterator[None]:
    """Wrap a search with ``compile(expr)`` (alone or restricted by filters) in this.

    A truncated phrase (``"breast feed*"``) is a Tantivy regex phrase query, which refuses
    at search time, with a ValueError, to expand its last word to more than 16,384 index
    terms (PubMed also caps truncation); this turns that refusal into a
    :class:`QuerySyntaxError` at the phrase's position.
    """
    try:
        yield
    except ValueError as e:
        if "max expansions" not in str(e):
            raise
        truncated = [t for t in leaves(expr) if isinstance(t, Term) and t.truncated]
        phrases = [t for t in truncated if t.field in TEXT_TAGS and " " in t.text]
        at = (phrases or truncated or [Term("tiab", "", 0)])[0].position
        raise QuerySyntaxError(
            "a truncated phrase matches too many words: use a longer stem", at
        ) from None
