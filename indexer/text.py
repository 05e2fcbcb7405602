"""What a word is: the one definition shared by lexical search, snippets and tuning.

A **word** is a maximal run of Unicode letters and digits in the lower-cased text (the
pattern ``[^\\W_]+``): everything else, underscore and hyphen included, separates words.
"covid-19" is the two words "covid" and "19", "β-cell" is "β" and "cell", "naïve" is one
word. This is where the store's full-text index splits text (SQLite FTS5's ``unicode61``
tokenizer, which then also stems and folds diacritics), so a query word is one the index
can match.

A **stop word** is one of :data:`STOP_WORDS`, a fixed list of English function words
("the", "of", "with", ...). A **term** is a word that is not a stop word: what a query is
about. Single letters and digits are terms ("vitamin d", "type 2").

Users: the lexical search's query tokens (``indexer.store.fulltext.query_tokens``, which
falls back to the stop words when a query has nothing else), the words snippets highlight
(``search.snippets.query_terms``) and the in-memory BM25 that mines hard negatives for
tuning (``indexer.tune.data.BM25``).
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+")

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
