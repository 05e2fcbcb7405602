"""What a word is: the one definition shared by lexical search, snippets and tuning.

A **word** is a maximal run of Unicode letters and digits in the lower-cased text; a
hyphenated compound is one word when one of its parts holds a digit (:data:`WORD_PATTERN`):
"covid-19", "il-6", "sars-cov-2" and "5-ht" are one word each (a bare "19" is not part of
them), while "long-term" is "long" and "term" and "β-cell" is "β" and "cell"; everything
else, underscore included, separates words. The lexical index splits text with the same
pattern (Tantivy's regex tokenizer, ``indexer.lexical.analysis``, which then stems), so a
query word is one the index can match.

A **stop word** is one of :data:`STOP_WORDS`, a fixed list of English function words
("the", "of", "with", ...). A **term** is a word that is not a stop word: what a query is
about. Single letters and digits are terms ("vitamin d", "type 2").

Users: the lexical search's query tokens (``indexer.lexical.analysis.query_terms``,
which falls back to the stop words when a query has nothing else), the words snippets highlight
(``search.snippets.query_terms``) and the in-memory BM25 that mines hard negatives for
tuning (``indexer.tune.data.BM25``).
"""

from __future__ import annotations

import re

WORD_PATTERN = r"(?:[^\W_]+-)*[^\W\d_]*\d[^\W_]*(?:-[^\W_]+)*|[^\W_]+"
"""One string for Python's ``re`` and Rust's ``regex`` (Tantivy): both read it the same way."""
WORD = re.compile(WORD_PATTERN)

STOP_WORDS = frozenset(
    """a about after all also an and any are as at be been being between both but by can
    could did do does done during each either for from had has have having he her here
    hers him his how i if in into is it its itself just may me might more most much must my
    no nor not of on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up
    upon very was we were what when where whether which while who whom whose why will with
    within without would yes yet you your""".split()
)


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order, repeats kept."""
    return WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """The words of ``text`` that are not stop words, in order, repeats kept."""
    return [w for w in words(text) if w not in STOP_WORDS]


def distinct(tokens: list[str]) -> list[str]:
    """``tokens`` without repeats, first occurrence first."""
    return list(dict.fromkeys(tokens))
