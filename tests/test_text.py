"""indexer.text: one notion of a word for lexical search, snippets and tuning."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.lexical.analysis import Analysis
from indexer.lexical.analysis import query_terms as index_terms
from indexer.text import STOP_WORDS, WORD, distinct, terms, words
from indexer.tune.data import BM25
from search.snippets import query_terms


def test_words_are_lower_case_letter_digit_runs() -> None:
    assert words("COVID-19 in 2020") == ["covid-19", "in", "2020"]
    assert words("IL-6, SARS-CoV-2 and 5-HT") == ["il-6", "sars-cov-2", "and", "5-ht"]
    assert words("long-term β-cell naïve snake_case") == [
        "long", "term", "β", "cell", "naïve", "snake", "case"
    ]  # fmt: skip
    assert words("  ...!!! --- ") == []
    assert words("") == []
    assert words("Insulin insulin") == ["insulin", "insulin"]  # repeats kept


def test_terms_drop_stop_words_only() -> None:
    assert terms("The effect of Insulin on insulin resistance") == [
        "effect", "insulin", "insulin", "resistance"
    ]  # fmt: skip
    assert terms("vitamin d and type 2 diabetes") == ["vitamin", "d", "type", "2", "diabetes"]
    assert terms("the of and") == []
    assert distinct(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_every_user_shares_the_definition() -> None:
    query = "The role of vitamin D in COVID-19, the role"
    # the index's terms are stemmed words, and a compound also looks for its glued form
    assert index_terms(query) == ["role", "vitamin", "d", "covid-19", "covid19"]
    assert query_terms(query) == ["role", "vitamin", "d", "covid-19"]
    assert BM25(["vitamin D levels", "roles of the liver"]).top(query, k=2)[0][0] == 0
    # an index that keeps stop words falls back to them; the default leaves them out
    assert index_terms("the who", Analysis(index_stopwords=True)) == ["the", "who"]
    assert index_terms("the who") == []
    assert query_terms("the who") == []


def test_stop_words_are_lower_case_words() -> None:
    assert STOP_WORDS and all(words(w) == [w] for w in STOP_WORDS)


PIECES = [*"aZ9 _-.,é\u00dfİ\u212a\u00a0\t", "the ", "of ", "The ", "Insulin "]
TEXT = st.lists(st.sampled_from(PIECES), max_size=30).map("".join) | st.text(max_size=60)


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_words_are_lower_case_substrings_and_terms_never_stop_words(text: str) -> None:
    lowered = text.lower()
    ws = words(text)
    for w in ws:
        assert w and w in lowered
        assert WORD.fullmatch(w)  # letters and digits, hyphens only inside compounds
        assert not any(c.isspace() or c == "_" for c in w)
        assert not w.startswith("-") and not w.endswith("-")
    assert "".join(ws) == "".join(WORD.findall(lowered))
    ts = terms(text)
    assert not set(ts) & STOP_WORDS
    assert ts == [w for w in ws if w not in STOP_WORDS]  # a subsequence of the words
    assert set(query_terms(text)) == set(ts)
    assert len(index_terms(text)) <= len(set(ws)) * 2
