"""Query-biased snippets: the passage of an abstract with the most query-term matches.

Plain text plus ``[start, end)`` highlight offsets into that text, never HTML: the caller
escapes and marks up (the web layer), or prints (the CLI).
"""

from __future__ import annotations

import functools
import re

from indexer.text import WORD, distinct
from indexer.text import terms as _terms
from search.results import Snippet

SNIPPET_CHARS = 300
ELLIPSIS = "…"


def query_terms(query: str) -> list[str]:
    """Distinct query terms worth highlighting (``indexer.text``: words, no stop words)."""
    return distinct(_terms(query))


_SUFFIXES = ("s", "es", "ed", "d", "ing")
MAX_TERMS = 32


def _bases(term: str) -> set[str]:
    """The term and, when it is inflected, its base ("viruses" -> "virus", "viruse")."""
    out = {term}
    for suf in _SUFFIXES:
        if term.endswith(suf) and len(term) - len(suf) >= 3:
            out.add(term[: -len(suf)])
    if term.endswith("ies") and len(term) > 5:
        out.add(term[:-3] + "y")  # therapies -> therapy
    return out


def _forms(term: str) -> set[str]:
    """Lower-case words that count as ``term``: itself up to a plural / -ed / -ing
    inflection, either way round ("virus" ~ "viruses", "treated" ~ "treating")."""
    out = set()
    for b in _bases(term):
        out.add(b)
        if len(b) >= 3:
            out.update(b + suf for suf in _SUFFIXES)
            if b.endswith("y"):
                out.add(b[:-1] + "ies")
    return out


@functools.lru_cache(maxsize=1024)
def _form_table(terms: tuple[str, ...]) -> tuple[dict[str, int], re.Pattern[str]]:
    """(lower-case form -> term index, a pattern finding candidate words in one C scan)."""
    table: dict[str, int] = {}
    for i, term in enumerate(terms):
        for form in _forms(term):
            table.setdefault(form, i)
    alternatives = "|".join(map(re.escape, sorted(table, key=len, reverse=True)))
    pattern = rf"(?<![^\W_])(?:{alternatives})(?![^\W_])"  # whole words (indexer.text)
    return table, re.compile(pattern, re.IGNORECASE)


def find_matches(text: str, terms: list[str]) -> list[tuple[int, int, int]]:
    """``(start, end, term_index)`` of every word of ``text`` matching a query term.

    A word is a maximal run of letters and digits (``indexer.text.WORD``) whose lower-case
    form is a form of a term. The regex only proposes candidates (case-insensitively, in C);
    the table confirms each one, so a word counts exactly when the per-word definition above
    says so. (Measured: 4x cheaper than looking up every word of an abstract in Python.)
    """
    if not terms:
        return []
    table, pattern = _form_table(tuple(terms[:MAX_TERMS]))
    out = []
    for m in pattern.finditer(text):
        i = table.get(m.group().lower())
        if i is not None and _whole_word(text, m.start(), m.end()):
            out.append((m.start(), m.end(), i))
    return out


def _whole_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is one word, not a part of a compound such as the "19" of
    "covid-19" (``indexer.text.WORD``): only a match next to a hyphen needs the check."""
    if not ((start > 0 and text[start - 1] == "-") or (end < len(text) and text[end] == "-")):
        return True
    lo, hi = start, end
    while lo > 0 and (text[lo - 1] == "-" or _word_char(text[lo - 1])):
        lo -= 1
    while hi < len(text) and (text[hi] == "-" or _word_char(text[hi])):
        hi += 1
    spans = {(m.start() + lo, m.end() + lo) for m in WORD.finditer(text[lo:hi])}
    return (start, end) in spans


def _word_char(c: str) -> bool:
    return c.isalnum()


def _best_window(matches: list[tuple[int, int, int]], width: int) -> tuple[int, int]:
    """Indices ``[i, j)`` of the run of matches fitting in ``width`` chars with the most
    distinct terms, then the most matches; the earliest such run on ties."""
    best = (-1, -1, 0, 0)  # distinct, count, i, j
    j = 0
    for i in range(len(matches)):
        j = max(j, i)
        while j < len(matches) and matches[j][1] - matches[i][0] <= width:
            j += 1
        j = max(j, i + 1)  # a lone match wider than the window still counts
        distinct = len({m[2] for m in matches[i:j]})
        if (distinct, j - i) > best[:2]:
            best = (distinct, j - i, i, j)
    return best[2], best[3]


def _snap(text: str, start: int, end: int, reach: int = 20) -> tuple[int, int]:
    """Move ``start`` and ``end`` to word boundaries: outward when the word is short (at
    most ``reach`` chars to go), inward otherwise, so no word is ever cut."""
    if start > 0 and not text[start - 1].isspace():
        back = text.rfind(" ", 0, start) + 1  # 0 when there is no space before
        if start - back <= reach:
            start = back
        else:
            nxt = text.find(" ", start)
            start = nxt + 1 if nxt >= 0 else len(text)
    if end < len(text) and not text[end].isspace() and not text[end - 1].isspace():
        fwd = text.find(" ", end)
        fwd = len(text) if fwd < 0 else fwd
        end = fwd if fwd - end <= reach else max(start, text.rfind(" ", start, end))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def make_snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> Snippet:
    """A passage of about ``width`` characters of ``text`` around the densest query matches.

    Cuts fall on word boundaries and are marked with an ellipsis; with no match the passage
    is the start of the text. Highlights cover every matching word inside the passage.
    """
    text = " ".join(text.split())  # one space between words: offsets stay simple
    if not text:
        return Snippet("", [])
    matches = find_matches(text, query_terms(query))
    if len(text) <= width:
        return Snippet(text, [(s, e) for s, e, _ in matches])
    if matches:
        i, j = _best_window(matches, width)
        first, last = matches[i][0], matches[j - 1][1]
        slack = width - (last - first)
        start = max(0, min(first - slack // 3, len(text) - width))
    else:
        start = 0
    end = min(len(text), start + width)
    start, end = _snap(text, start, end)
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    shift = len(prefix) - start
    highlights = [(s + shift, e + shift) for s, e, _ in matches if s >= start and e <= end]
    return Snippet(prefix + text[start:end] + suffix, highlights)
