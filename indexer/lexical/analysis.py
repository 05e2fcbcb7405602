"""Text analysis of the lexical index: what a token is, how it is normalised, title weight.

One :class:`Analysis` describes it; the index records the one it was built with in its
manifest (``Manifest.lexical``), and readers rebuild the same analyser from that record, so
changing :data:`DEFAULT` never changes what an existing index means.

Tokens (``token="bio"``, the default): runs of letters and digits; a hyphenated compound
stays one token when one of its parts holds a digit, so ``COVID-19``, ``IL-6``,
``SARS-CoV-2``, ``5-HT`` and ``IL-1β`` match themselves and a bare ``19`` or ``6`` does not
match them, while ``long-term`` is the two tokens ``long`` and ``term``. After the compound's
last part with a digit only a short letter part (up to 3 letters: ``5-HT``, ``24-h``) stays
in it: ``COVID-19-related`` is ``covid-19`` + ``related`` (so it matches ``COVID-19``),
``p53-dependent`` is ``p53`` + ``dependent``, ``5-year`` is ``5`` + ``year``.
``token="words"`` is the previous definition (every hyphen separates). The pattern is the
same string for Tantivy's regex tokenizer (Rust) and Python's :mod:`re` (snippets, query
terms); the few characters the two engines class differently (superscripts and fractions,
combining marks, joiners) are in neither's tokens, and both give the same tokens on every
article of the real PubMed sample files (``tests/test_analysis.py`` checks a sample).

A query's terms: its words that are not stop words (all its words when nothing else is
left), each analysed like the index text; a hyphenated compound also matches its glued form
(``covid-19`` ~ ``covid19``), and a glued word also matches those of its hyphenations (a
hyphen at letter/digit transitions: ``covid19`` ~ ``covid-19``, ``il6`` ~ ``il-6``) that the
index holds, when the caller says which terms it holds (``known``). User text is never query
syntax.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import tantivy

from indexer.filters import MAX_QUERY_CHARS
from indexer.text import SIMPLE_WORD_PATTERN, STOP_WORDS, WORD_PATTERN, distinct

PATTERNS = {
    "bio": WORD_PATTERN,
    "words": SIMPLE_WORD_PATTERN,
}
MAX_TERMS = 32
MAX_TRANSITIONS = 3
"""A glued word with more letter/digit transitions than this gets no hyphenated variants
(``2**3 - 1`` spellings at most, each a term-dictionary lookup)."""
_TRANSITION = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
TOKENIZER_NAME = "pubmed"


@dataclass(frozen=True)
class Analysis:
    """How title and abstract text become index terms (recorded in the manifest)."""

    token: str = "bio"  # a key of PATTERNS
    stem: bool = True  # Snowball English stemming (Tantivy's stemmer)
    index_stopwords: bool = True  # False: STOP_WORDS are left out of the index
    title_boost: float = 2.0  # a title match weighs this much more than an abstract match

    def __post_init__(self) -> None:
        if self.token not in PATTERNS:
            raise ValueError(f"unknown token definition {self.token!r} (use {list(PATTERNS)})")
        if not self.title_boost > 0:
            raise ValueError(f"title_boost must be > 0, got {self.title_boost}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Analysis:
        return cls(**d)

    @property
    def name(self) -> str:
        stops = "" if self.index_stopwords else "-nostop"
        return f"{self.token}{'-stem' if self.stem else ''}{stops}-t{self.title_boost:g}"


DEFAULT = Analysis(token="bio", stem=True, index_stopwords=False, title_boost=2.0)
"""Chosen by ``bench/analysis.py`` on the dev splits of pubmedqa, known-item and topic.

Stemming: +0.014 PubMedQA MRR@10, +0.02-0.03 topic nDCG@10 over no stemming. Stop words left
out of the index: equal or slightly better everywhere (a smaller index). ``bio`` tokens: the
``words`` tokens score within 0.001 but flood (``IL-6`` returns 5,832 of 50,783 articles
for 203 that contain it). Title boost 2: topic nDCG@10 0.341 (boost 1) -> 0.392 (2) ->
0.406 (3) on dev, but known-item nDCG@10, whose relevant articles match in their abstracts
only (their titles are the queries), falls 0.716 -> 0.404 -> 0.182 on dev (held-out: 0.443 at
2, 0.226 at 3): boost 3 buys +0.014 on topic queries for half of the abstract-only evidence,
so the default stops at 2 (PubMedQA, which has no titles, is the same at every boost)."""


@functools.lru_cache(maxsize=16)
def analyzer(analysis: Analysis) -> tantivy.TextAnalyzer:
    """The Tantivy analyser of ``analysis`` (register it as :data:`TOKENIZER_NAME`)."""
    b = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(PATTERNS[analysis.token]))
    b = b.filter(tantivy.Filter.lowercase())
    if not analysis.index_stopwords:
        b = b.filter(tantivy.Filter.custom_stopword(sorted(STOP_WORDS)))
    if analysis.stem:
        b = b.filter(tantivy.Filter.stemmer("english"))
    return b.build()


@functools.lru_cache(maxsize=16)
def word_pattern(token: str) -> re.Pattern[str]:
    return re.compile(PATTERNS[token])


def words(text: str, token: str = DEFAULT.token) -> list[str]:
    """The tokens of ``text`` before normalisation: lower-cased, in order, repeats kept."""
    return word_pattern(token).findall(text.lower())


@functools.lru_cache(maxsize=65_536)
def _normalise(analysis: Analysis, word: str) -> str:
    out = analyzer(analysis).analyze(word)
    return out[0] if out else word


def normalise(word: str, analysis: Analysis = DEFAULT) -> str:
    """The index term of one lower-cased token (stemmed when ``analysis.stem``)."""
    return _normalise(analysis, word)


def hyphenations(word: str) -> list[str]:
    """The hyphenated spellings a glued word may stand for: a hyphen at every non-empty subset
    of its letter/digit transitions (``il1b`` -> ``il-1b``, ``il1-b``, ``il-1-b``); none for a
    word with a hyphen, without a transition or with more than :data:`MAX_TRANSITIONS`."""
    if "-" in word or word.isalpha() or word.isdecimal():  # no letter/digit transition
        return []
    cuts = [m.start() for m in _TRANSITION.finditer(word)]
    if not cuts or len(cuts) > MAX_TRANSITIONS:
        return []
    out = []
    for n in range(1, len(cuts) + 1):
        for chosen in itertools.combinations(cuts, n):
            bounds = [0, *chosen, len(word)]
            out.append("-".join(word[a:b] for a, b in itertools.pairwise(bounds)))
    return out


def query_terms(
    query: str, analysis: Analysis = DEFAULT, known: Callable[[str], bool] | None = None
) -> list[str]:
    """The distinct index terms a plain-text query looks for (see the module docstring).

    ``known``: whether the index holds a term; given, a glued word also looks for those of
    its :func:`hyphenations` that the index holds."""
    ws = distinct(words(query[:MAX_QUERY_CHARS], analysis.token))
    content = [w for w in ws if w not in STOP_WORDS]
    if not content and not analysis.index_stopwords:
        return []
    out: list[str] = []
    for w in content or ws:
        out.append(normalise(w, analysis))
        if "-" in w:
            out.append(normalise(w.replace("-", ""), analysis))
        elif known is not None:
            variants = (normalise(h, analysis) for h in hyphenations(w))
            out.extend(t for t in variants if known(t))
    return distinct(out)[:MAX_TERMS]
