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

# Characters Rust's regex crate and Python's re class differently as word characters
# (Python: numeric No such as superscripts and fractions; Rust: combining marks, connector
# punctuation, joiners, enclosed letters): neither engine puts them in a token.
_UNSHARED = (
    r"\u00b2\u00b3\u00b9\u00bc-\u00be\u0300-\u036f\u0483-\u0489\u0591-\u05c7"
    r"\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u200d\u203f\u2040\u2054\u2070-\u209f"
    r"\u20d0-\u20ff\u2150-\u218f\u2460-\u24ff\u2776-\u2793\u3248-\u324f\u3251-\u325f"
    r"\u3280-\u3289\u32b1-\u32bf\ufe20-\ufe2f\ufe33\ufe34\ufe4d-\ufe4f\uff3f"
)
_ALNUM = rf"[^\W_{_UNSHARED}]"  # a letter or a digit
_ALPHA = rf"[^\W\d_{_UNSHARED}]"  # a letter
_PART = rf"{_ALPHA}*\d{_ALNUM}*"  # a part holding a digit
WORD_PATTERN = rf"(?:{_ALNUM}+-)*{_PART}(?:-{_PART})*(?:-{_ALPHA}{{1,3}}\b)?|{_ALNUM}+"
"""A compound of parts joined by hyphens, one of which holds a digit (after the last such
part only a short letter part, <= 3 letters as in 5-HT or 24-h, stays in it), or a run of
letters and digits. One string for Python's ``re`` and Rust's ``regex`` (Tantivy): both read
it the same way (tested on every article of the two real files)."""
SIMPLE_WORD_PATTERN = rf"{_ALNUM}+"
"""Every hyphen separates (the definition before compounds; an analysis option)."""
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
