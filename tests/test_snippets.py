"""Query-biased snippets: passage choice, word-boundary cuts, highlight offsets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from search.snippets import ELLIPSIS, make_snippet, query_terms

FILLER = "Lorem ipsum dolor sit amet consectetur adipiscing elit. "


def highlighted(snippet) -> list[str]:
    return [snippet.text[a:b] for a, b in snippet.highlights]


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("The effect of Insulin on insulin resistance") == [
        "effect",
        "insulin",
        "resistance",
    ]
    assert query_terms("   ") == []
    assert query_terms("covid-19 in 2020") == ["covid-19", "2020"]


def test_a_compound_is_highlighted_whole_and_its_digits_are_not_words() -> None:
    text = "COVID-19 cases rose 19% in long-term care; covid-19 again."
    assert highlighted(make_snippet(text, "covid-19")) == ["COVID-19", "covid-19"]
    assert highlighted(make_snippet(text, "19")) == ["19"]  # the "19%", not COVID-19's
    assert highlighted(make_snippet(text, "term care")) == ["term", "care"]


def test_short_text_is_whole_with_highlights() -> None:
    text = "Insulin resistance in obese patients. Insulin therapy helped."
    s = make_snippet(text, "insulin resistance")
    assert s.text == text
    assert highlighted(s) == ["Insulin", "resistance", "Insulin"]


def test_chooses_passage_with_most_matches() -> None:
    weak = "A single mention of vaccine appears here. "
    strong = "Vaccine efficacy against influenza was high; vaccine efficacy persisted in elderly. "
    text = weak + FILLER * 12 + strong + FILLER * 12
    s = make_snippet(text, "influenza vaccine efficacy")
    assert "influenza" in s.text
    assert highlighted(s).count("efficacy") == 2
    assert {w.lower() for w in highlighted(s)} == {"vaccine", "efficacy", "influenza"}
    assert s.text.startswith(ELLIPSIS) and s.text.endswith(ELLIPSIS)
    assert len(s.text) <= 300 + 2 * 20 + 2


def test_prefers_distinct_terms_over_repeats() -> None:
    repeats = "stroke stroke stroke stroke stroke. "
    both = "stroke thrombolysis outcome. "
    text = repeats + FILLER * 10 + both + FILLER * 10
    s = make_snippet(text, "stroke thrombolysis", width=120)
    assert "thrombolysis" in highlighted(s)


def test_no_match_gives_start_of_text_cut_at_word() -> None:
    text = FILLER * 20
    s = make_snippet(text, "zebrafish")
    assert s.highlights == []
    assert text.startswith(s.text.removesuffix(ELLIPSIS))
    body = s.text.removesuffix(ELLIPSIS)
    assert text[len(body)] == " "  # the cut falls between words
    assert 250 <= len(body) <= 320


def test_inflections_match_but_unrelated_words_do_not() -> None:
    s = make_snippet("Viruses and the virus; virtual reality; cells and cellar.", "virus cell")
    assert highlighted(s) == ["Viruses", "virus", "cells"]
    s = make_snippet("One therapy, two therapies; treated and treating; the cell.", "cells treat")
    assert highlighted(s) == ["treated", "treating", "cell"]
    assert highlighted(make_snippet("therapies", "therapy")) == ["therapies"]


def test_empty_text() -> None:
    s = make_snippet("", "anything")
    assert s.text == "" and s.highlights == []


def test_whitespace_is_collapsed_so_offsets_match() -> None:
    s = make_snippet("Asthma\n\n  and\tbudesonide", "budesonide")
    assert s.text == "Asthma and budesonide"
    assert highlighted(s) == ["budesonide"]


words = st.sampled_from(
    "asthma insulin tumour the of and cell cells virus viruses x alpha-beta 19 (p<0.05)".split()
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(words, min_size=0, max_size=200),
    st.lists(words, min_size=1, max_size=4),
    st.integers(40, 400),
)
def test_snippet_invariants(text_words, query_words, width) -> None:
    text = " ".join(text_words)
    query = " ".join(query_words)
    s = make_snippet(text, query, width=width)
    body = s.text.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
    assert body in text  # a contiguous passage of the original
    if body:  # never cuts a word
        start = text.find(body)
        assert start == 0 or text[start - 1] == " "
        end = start + len(body)
        assert end == len(text) or text[end] == " "
    terms = set(query_terms(query))
    prev_end = -1
    for a, b in s.highlights:
        assert 0 <= a < b <= len(s.text)
        assert a >= prev_end  # sorted, non-overlapping
        prev_end = b
        frag = s.text[a:b].lower()
        assert any(frag[:3] == t[:3] for t in terms)
    if len(text) <= width:
        assert s.text == text


WORDS = st.sampled_from(
    ["Virus", "viruses", "VIRUSED", "therapy", "Therapies", "treated", "treating", "ſtem",
     "stem", "Straße", "STRASSE", "\u212aelvin", "kelvin", "İnsulin", "insulin", "β-cell",
     "cell_s", "cells", "x", "19", "covid-19", "ünïcode", "ÜNÏCODE"]
)  # fmt: skip


def per_word_matches(text: str, terms: list[str]) -> list[tuple[int, int, int]]:
    """The definition: every word (``indexer.text.WORD`` run) whose lower-case form is a form
    of a term."""
    from indexer.text import WORD
    from search.snippets import MAX_TERMS, _forms

    table: dict[str, int] = {}
    for i, term in enumerate(terms[:MAX_TERMS]):
        for form in _forms(term):
            table.setdefault(form, i)
    out = []
    for m in WORD.finditer(text):
        i = table.get(m.group().lower())
        if i is not None:
            out.append((m.start(), m.end(), i))
    return out


@given(
    st.lists(WORDS, max_size=30),
    st.lists(st.sampled_from([" ", ", ", "-", "_", "(", ". ", "\u00a0"]), min_size=30),
    st.lists(WORDS, min_size=1, max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_find_matches_equals_the_per_word_definition(words, seps, query_words) -> None:
    from search.snippets import find_matches

    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    terms = query_terms(" ".join(query_words))
    assert find_matches(text, terms) == per_word_matches(text, terms)
