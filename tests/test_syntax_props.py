"""Properties of the PubMed-style syntax: any text parses, compiles and runs, or raises
QuerySyntaxError (never anything else); generated well-formed expressions select exactly the
articles a plain-Python evaluation selects."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from indexer.lexical.syntax import QuerySyntaxError, compile, guard, parse, text_terms
from tests.syntax_helpers import ANALYSES, AUTHORS, VOCAB, Doc, build, corpus, expected

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module", params=list(ANALYSES))
def indexed(request, tmp_path_factory):
    analysis = ANALYSES[request.param]
    arts = corpus()
    ix = build(tmp_path_factory.mktemp(f"syntax-props-{request.param}") / "ix", arts, analysis)
    return ix, [Doc(a, analysis) for a in arts]


PIECES = [
    "AND",
    "OR",
    "NOT",
    "and",
    "(",
    ")",
    '"',
    "[",
    "]",
    "*",
    ":",
    "/",
    "[ti]",
    "[tiab]",
    "[au]",
    "[mh]",
    "[majr]",
    "[dp]",
    "[la]",
    "[pt]",
    "[ta]",
    "[xx]",
    "[Title/Abstract]",
    "2015",
    "2015:2020",
    "2015/13/01",
    "lung",
    "canc*",
    "therap*",
    "smith j",
    "english",
    "covid-19",
    "\x00",
    "\u202e",
    "𝔞𝔰𝔱𝔥𝔪𝔞",
    "İ",
    "ß",
    "\\",
    ".*",
    "(?:",
    "\\x{",
]
ANY_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(PIECES), max_size=14).map(" ".join),
    st.lists(st.sampled_from(PIECES), max_size=14).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=10).map(" ".join),
)


@SETTINGS
@given(text=ANY_TEXT)
def test_any_text_runs_or_raises_a_syntax_error(indexed, text):
    ix, _ = indexed
    try:
        expr = parse(text)
        query = compile(expr, ix.schema, ix.analysis)
    except QuerySyntaxError as e:
        assert 0 <= e.position <= len(text)
        assert str(e).startswith("syntax: ") and str(e).endswith(f"at position {e.position}")
        return
    with guard(expr):
        hits, total = ix.run(query, 10)
        ix.ids(query)
    assert total >= len(hits)
    assert all(isinstance(t, str) for t in text_terms(expr))


# -- generated well-formed expressions ------------------------------------------------------
WORDS = [*VOCAB, "nothinghere", "LUNG", "Therapy"]
STEMS = ["ther", "therap", "bacteri", "stud", "studies", "canc", "feed", "lung", "covid"]
TEXT_TAG = st.sampled_from(["", "[ti]", "[ab]", "[tiab]", "[Title]", "[TIAB]"])


@st.composite
def leaf(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        return " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))) + draw(
            TEXT_TAG
        )
    if kind == 3:
        return draw(st.sampled_from(STEMS)) + "*" + draw(TEXT_TAG)
    if kind == 4:
        ws = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
        star = "*" if draw(st.booleans()) and len(ws[-1]) >= 4 else ""
        return '"' + " ".join(ws) + star + '"' + draw(TEXT_TAG)
    if kind == 5:
        name = draw(st.sampled_from([*AUTHORS, "smith", "smith j", "smith ja", "smi", "li"]))
        return (f'"{name}"' if draw(st.booleans()) else name) + "[au]"
    if kind == 6:
        lo = draw(st.integers(2008, 2024))
        hi = draw(st.integers(lo, 2025))
        return (
            draw(st.sampled_from([f"{lo}", f"{lo}:{hi}", f"{lo}:", f":{hi}", f"{lo}/02:{hi}"]))
            + "[dp]"
        )
    if kind == 7:
        return draw(
            st.sampled_from(
                [
                    "asthma[mh]",
                    "D001249[mh]",
                    "lung neoplasms[majr]",
                    "humans[MeSH Terms]",
                    "diab*[mh]",
                    "mice[majr]",
                ]
            )
        )
    if kind == 8:
        return draw(st.sampled_from(["english[la]", "fre[la]", "german[Language]", "jpn[la]"]))
    return draw(
        st.sampled_from(
            ["review[pt]", "case reports[pt]", "j biol chem[ta]", "nature[journal]", "lancet[ta]"]
        )
    )


def expression(depth: int = 3):
    if depth == 0:
        return leaf()
    sub = expression(depth - 1)
    group = sub.map(lambda s: f"({s})")
    operand = st.one_of(leaf(), group)
    op = st.sampled_from([" AND ", " OR ", " NOT ", " "])
    return st.tuples(operand, st.lists(st.tuples(op, operand), max_size=3)).map(
        lambda t: t[0] + "".join(o + x for o, x in t[1])
    )


@settings(SETTINGS, max_examples=150)
@given(text=expression())
def test_generated_expressions_select_exactly_what_the_python_evaluation_selects(indexed, text):
    ix, docs = indexed
    try:
        expr = parse(text)
    except QuerySyntaxError:  # only the bounds can refuse a generated expression
        assume(False)
    got = [int(i) for i in ix.ids(compile(expr, ix.schema, ix.analysis))]
    assert got == expected(expr, docs), text
