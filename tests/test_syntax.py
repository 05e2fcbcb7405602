"""PubMed-style advanced search (indexer.lexical.syntax): parsing, errors, and the exact result
sets of compiled queries on real Tantivy indexes, against a plain-Python evaluation."""

from __future__ import annotations

import math

import pytest
import tantivy

from indexer.errors import InvalidParameter
from indexer.lexical.analysis import Analysis
from indexer.lexical.syntax import (
    MAX_CHARS,
    MAX_DEPTH,
    MAX_TERMS,
    And,
    DateRange,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    compile,
    guard,
    parse,
    text_terms,
)
from indexer.records import Article, MeshTerm, Section
from tests.syntax_helpers import ANALYSES, Doc, build, corpus, expected


def t(text: str, pos: int, field: str = "tiab", **kw) -> Term:
    return Term(field, text, pos, **kw)


# -- parsing ------------------------------------------------------------------------------
def test_operators_are_processed_left_to_right_without_precedence():
    assert parse("a OR b AND c") == And((Or((t("a", 0), t("b", 5))), t("c", 11)))
    assert parse("a AND b OR c") == Or((And((t("a", 0), t("b", 6))), t("c", 11)))
    assert parse("a OR (b AND c)") == Or((t("a", 0), And((t("b", 6), t("c", 12)))))
    assert parse("a NOT b OR c") == Or((Not(t("a", 0), (t("b", 6),)), t("c", 11)))
    assert parse("a OR b NOT c") == Not(Or((t("a", 0), t("b", 5))), (t("c", 11),))


def test_chains_of_one_operator_are_flat():
    assert parse("a AND b AND c") == And((t("a", 0), t("b", 6), t("c", 12)))
    assert parse("a OR b OR c") == Or((t("a", 0), t("b", 5), t("c", 10)))
    assert parse("a NOT b NOT c") == Not(t("a", 0), (t("b", 6), t("c", 12)))


def test_adjacent_terms_are_anded_and_lower_case_operators_are_words():
    assert parse("lung cancer") == And((t("lung", 0), t("cancer", 5)))
    assert parse("salt and pepper or not") == And(
        (t("salt", 0), t("and", 5), t("pepper", 9), t("or", 16), t("not", 19))
    )
    # an implicit AND between units takes its place in the left-to-right chain
    assert parse('a OR b "c d"') == And((Or((t("a", 0), t("b", 5))), t("c d", 7, quoted=True)))


def test_a_tag_applies_to_the_run_of_words_before_it():
    assert parse("smith j[au]") == t("smith j", 0, "au")
    assert parse("breast cancer[ti]") == And((t("breast", 0, "ti"), t("cancer", 7, "ti")))
    assert parse("lung AND smith ja [au]") == And((t("lung", 0), t("smith ja", 9, "au")))
    assert parse('"lung cancer"[ti] x') == And((t("lung cancer", 0, "ti", quoted=True), t("x", 18)))
    assert parse("asthma[mh] smith[au]") == And((t("asthma", 0, "mh"), t("smith", 11, "au")))
    # a language is one word and a date the date-like words: words before them stay text
    assert parse("lung cancer 2015[dp]") == And(
        (t("lung", 0), t("cancer", 5), DateRange(2015, 2015, 12))
    )
    assert parse("x OR cancer 2015 : 2020[dp]") == And(
        (Or((t("x", 0), t("cancer", 5))), DateRange(2015, 2020, 12))
    )
    assert parse("cancer english[la]") == And((t("cancer", 0), t("english", 7, "la")))
    assert parse('"lung cancer" english[la]') == And(
        (t("lung cancer", 0, quoted=True), t("english", 14, "la"))
    )


@pytest.mark.parametrize(
    ("tag", "field"),
    [
        ("tiab", "tiab"),
        ("TIAB", "tiab"),
        ("Title/Abstract", "tiab"),
        ("ti", "ti"),
        ("Title", "ti"),
        ("ab", "ab"),
        ("ABSTRACT", "ab"),
        ("mh", "mh"),
        ("MeSH Terms", "mh"),
        ("mesh", "mh"),
        ("mh:noexp", "mh"),
        ("majr", "majr"),
        ("MeSH Major Topic", "majr"),
        ("au", "au"),
        ("Author", "au"),
        ("ta", "ta"),
        ("Journal", "ta"),
        ("jour", "ta"),
        ("pt", "pt"),
        ("Publication Type", "pt"),
        ("la", "la"),
        ("Language", "la"),
        ("lang", "la"),
    ],
)
def test_field_tags_short_and_long_any_case(tag, field):
    assert parse(f"word[{tag}]") == Term(field, "word", 0)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2015[dp]", 2015, 2015),
        ("2015:2020[dp]", 2015, 2020),
        ("2015 : 2020 [DP]", 2015, 2020),
        ("2015/06/30[pdat]", 2015, 2015),
        ("2015/02:2016/12/31[Date - Publication]", 2015, 2016),
        ("2015:3000[dp]", 2015, 3000),
        ("2015:[dp]", 2015, None),
        (":2020[dp]", None, 2020),
        ('"2016/02/29"[dp]', 2016, 2016),
    ],
)
def test_publication_dates(text, start, end):
    assert parse(text) == DateRange(start, end, 0)


def test_truncation_and_phrases():
    assert parse("bacter*") == t("bacter", 0, truncated=True)
    assert parse('"breast feed*"[tiab]') == t("breast feed", 0, quoted=True, truncated=True)
    assert parse("smith j*[au]") == t("smith j", 0, "au", truncated=True)
    assert parse('"  lung   cancer "') == t("lung cancer", 0, quoted=True)


@pytest.mark.parametrize(
    ("text", "position", "what"),
    [
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("AND lung", 0, "AND with nothing before it"),
        ("NOT lung", 0, "NOT with nothing before it"),
        ("(NOT lung)", 1, "NOT with nothing before it"),
        ("lung AND", 5, "AND with nothing after it"),
        ("lung OR (a NOT)", 11, "NOT with nothing after it"),
        ("lung AND OR cancer", 9, "operator OR after operator AND"),
        ("(lung OR cancer", 0, "unbalanced parenthesis"),
        ("lung OR cancer)", 14, "unbalanced parenthesis"),
        ("(a OR (b AND c)", 0, "unbalanced parenthesis"),
        ("a ()", 2, "empty parentheses"),
        ('lung "cancer', 5, "unbalanced quote"),
        ("lung[ti", 4, "unbalanced bracket '['"),
        ("lung]", 4, "unbalanced bracket ']'"),
        ("lung[xx]", 4, "unknown field tag [xx]"),
        ("a AND lung[tw]", 10, "unknown field tag [tw]"),
        ("[ti]", 0, "field tag [ti] with no term before it"),
        ("lung[ti][ab]", 8, "field tag [ab] with no term before it"),
        ("(lung)[ti]", 6, "a field tag must follow a term, not parentheses"),
        ("x bac*", 2, "truncation needs at least 4 characters before '*'"),
        ('"lung ca*"', 0, "truncation needs at least 4 characters before '*'"),
        ("x lu*ng", 2, "'*' is only allowed at the end of a word"),
        ("x lung**", 2, "'*' is only allowed at the end of a word"),
        ("x lung-*", 2, "'*' must follow a letter or digit"),
        ("x ***", 2, "'*' is only allowed at the end of a word"),
        ("x OR smi*th j[au]", 5, "'*' is only allowed at the end of a term"),
        ("x AND abc*[au]", 6, "truncation needs at least 4 characters before '*'"),
        ("x AND 20150[dp]", 6, "bad [dp] date '20150' (use YYYY, YYYY/MM or YYYY/MM/DD)"),
        ("x AND 2015/13[dp]", 6, "bad [dp] date '2015/13'"),
        ("x AND 2015/02/30[dp]", 6, "bad [dp] date '2015/02/30'"),
        ("x AND 2015*[dp]", 6, "bad [dp] date '2015*' (use YYYY, YYYY/MM or YYYY/MM/DD)"),
        ("x AND :[dp]", 6, "bad [dp] range ':' (use A:B)"),
        ("x AND 2010:2011:2012[dp]", 6, "bad [dp] range '2010:2011:2012' (use A:B)"),
        ("x AND 2020:2010[dp]", 6, "[dp] range '2020:2010' ends before it starts"),
        ("x AND ?? !!", 6, "nothing to search for in '??!!'"),
        ('x ""', 2, "empty phrase"),
        ("x (((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))", 34, None),
    ],
)
def test_malformed_expressions_name_the_offending_position(text, position, what):
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    e = info.value
    assert e.position == position, str(e)
    if what is not None:
        assert str(e) == f"syntax: {what} at position {position}"
    assert isinstance(e, InvalidParameter) and e.status == 400 and e.exit_code == 2


def test_length_terms_and_depth_are_bounded():
    with pytest.raises(QuerySyntaxError) as info:
        parse("a" * (MAX_CHARS + 1))
    assert info.value.position == MAX_CHARS
    parse("a" * MAX_CHARS)
    with pytest.raises(QuerySyntaxError, match="more than"):
        parse(" ".join(["x"] * (MAX_TERMS + 1)))
    parse(" ".join(["x"] * MAX_TERMS))
    parse("(" * (MAX_DEPTH - 1) + "a" + ")" * (MAX_DEPTH - 1))
    # alternating operators nest too (left to right): bounded the same way, never recursion
    chain = " ".join(f"w{i} {'AND' if i % 2 else 'OR'}" for i in range(100)) + " z"
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse(chain)
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse("(" * 1500 + "a" + ")" * 1500)
    with pytest.raises(QuerySyntaxError):
        parse(None)  # type: ignore[arg-type]


def test_text_terms_are_the_positive_free_text_terms():
    e = parse(
        '"lung cancer"[ti] AND smok*[tiab] smith j[au] NOT mice OR (asthma NOT rats) 2015[dp]'
    )
    assert text_terms(e) == ["lung cancer", "smok", "asthma"]
    assert text_terms(parse("Lung OR lung[ab] OR asthma[mh]")) == ["Lung"]
    assert text_terms(parse("asthma[mh]")) == []


# -- results on an index ------------------------------------------------------------------
@pytest.fixture(scope="module", params=list(ANALYSES))
def indexed(request, tmp_path_factory):
    analysis = ANALYSES[request.param]
    arts = corpus()
    ix = build(tmp_path_factory.mktemp(f"syntax-{request.param}") / "ix", arts, analysis)
    return ix, [Doc(a, analysis) for a in arts]


def ids(ix, text: str) -> list[int]:
    return [int(i) for i in ix.ids(compile(parse(text), ix.schema, ix.analysis))]


EXPRESSIONS = [
    "lung",
    "LUNG",
    "lung cancer",
    "lung AND cancer",
    "lung OR cancer",
    "lung NOT cancer",
    "lung OR cancer AND mice",
    "lung OR (cancer AND mice)",
    "lung AND cancer OR mice",
    "lung AND (cancer OR mice)",
    "lung NOT cancer OR mice",
    "lung NOT (cancer OR mice)",
    "lung NOT cancer NOT mice",
    "(lung OR asthma) AND (therapy OR therapies) NOT mice",
    "lung[ti]",
    "lung[ab]",
    "lung[tiab]",
    "lung cancer[ti]",
    "lung[ti] cancer[ab]",
    '"lung cancer"',
    '"lung cancer"[ti]',
    '"lung cancer"[ab]',
    '"cancer of the lung"',
    '"of the"',
    "the",
    "the AND lung",
    "and",
    "and[ti]",
    "therap*",
    "therap*[ti]",
    "bacteri*",
    "studies*",
    "stud* AND mice",
    '"breast feed*"',
    '"breast feed*"[ab]',
    '"lung canc*"[ti]',
    "covid-19",
    "covid19",
    "COVID-19[ti]",
    "il-6",
    "il-6 AND covid-19",
    "covid*",
    "smith[au]",
    "smith j[au]",
    "smith ja[au]",
    "smith jab[au]",
    "Smith JB[Author]",
    '"smith j"[au]',
    '"smith"[au]',
    "smith j*[au]",
    "smith*[au]",
    "smithson[au]",
    "o'brien k[au]",
    "o'brien[au]",
    "li[au]",
    "li x[au]",
    "van der berg[au]",
    "van der berg m[au]",
    "müller h[au]",
    "MÜLLER[au]",
    "asthma[mh]",
    "Asthma[MeSH Terms]",
    "D001249[mh]",
    "d001249[mh]",
    "lung neoplasms[mh]",
    '"Lung Neoplasms"[majr]',
    "lung neoplasms[majr]",
    "D008175[MAJR]",
    "diab*[mh]",
    "neoplasms[mh]",
    "nature[ta]",
    "j biol chem[ta]",
    "J. Biol. Chem.[ta]",
    "journal of biological chemistry[journal]",
    "n engl j med[ta]",
    "lancet[ta]",
    "the lancet[ta]",
    "new england*[ta]",
    "review[pt]",
    "Randomized Controlled Trial[pt]",
    "case*[pt]",
    "eng[la]",
    "english[la]",
    "ENGLISH[Language]",
    "french[la]",
    "fre[la]",
    "german[la] OR japanese[la]",
    "2015[dp]",
    "2015:2018[dp]",
    "2015/03/01:2018/02[dp]",
    "2020:[dp]",
    ":2012[dp]",
    "2010:3000[dp]",
    "lung AND 2015:2020[dp]",
    "lung OR 2015[dp]",
    "2015[dp] NOT lung",
    "asthma[mh] NOT asthma",
    "(smith j[au] OR li x[au]) AND english[la] NOT review[pt]",
    "lung AND (asthma[majr] OR diabetes[tiab]) NOT 2011:2013[dp]",
    "lung cancer smith",
    "lung/cancer",
    "nonexistentword",
    "nonexistentword[au]",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_result_sets_equal_a_python_evaluation(indexed, text):
    ix, docs = indexed
    want = expected(parse(text), docs)
    assert ids(ix, text) == want


def test_the_expressions_select_something(indexed):
    """The comparison above is not vacuous: most expressions select some but not all."""
    _, docs = indexed
    sizes = [len(expected(parse(x), docs)) for x in EXPRESSIONS]
    partial = [s for s in sizes if 0 < s < len(docs)]
    assert len(partial) > 0.75 * len(EXPRESSIONS)


# -- the semantics on hand-made articles --------------------------------------------------
def art(pmid: int, **kw) -> Article:
    sections = [Section(kw.pop("abstract"))] if "abstract" in kw else []
    return Article(pmid=pmid, sections=sections, **kw)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    arts = [
        art(1, title="Salmonella in hamburger", year=2014, authors=["Smith JA"], languages=["eng"]),
        art(
            2, title="Eggs", abstract="salmonella outbreak", authors=["Smith J"], languages=["fre"]
        ),
        art(3, title="Hamburger eggs", year=2016, authors=["Smith JB", "Smithson JA"]),
        art(4, title="Cancer of the lung", abstract="lung cancer", authors=["Smith"], year=2020),
        art(
            5,
            title="Asthma therapy",
            abstract="therapeutic insulin",
            mesh=[MeshTerm("Asthma", "D001249", major=True), MeshTerm("Humans", "D006801")],
            journal="Journal of Biological Chemistry",
            journal_iso="J. Biol. Chem.",
            publication_types=["Review"],
            languages=["ger"],
            year=2015,
        ),
    ]
    return build(tmp_path_factory.mktemp("syntax-small") / "ix", arts, Analysis())


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # PubMed's own example: left to right, so 'salmonella AND hamburger OR eggs'
        # is (salmonella AND hamburger) OR eggs, and nesting changes it
        ("salmonella AND hamburger OR eggs", [1, 2, 3]),
        ("salmonella AND (hamburger OR eggs)", [1, 2]),
        ("eggs OR hamburger AND salmonella", [1, 2]),  # (eggs OR hamburger) AND salmonella
        ("eggs OR hamburger NOT salmonella", [3]),
        ("salmonella hamburger", [1]),
        ("salmonella and hamburger", []),  # 'and' is a word: no document holds it
        ("smith[au]", [1, 2, 3, 4]),
        ("smith j[au]", [1, 2, 3]),
        ("smith ja[au]", [1]),
        ('"smith j"[au]', [2]),
        ('"smith"[au]', [4]),
        ("smiths*[au]", [3]),
        ("english[la]", [1]),
        ("eng[la] OR french[la]", [1, 2]),
        ("german[Language]", [5]),
        ("asthma[majr]", [5]),
        ("humans[majr]", []),
        ("humans[mh]", [5]),
        ("D006801[mh]", [5]),
        ("j biol chem[ta]", [5]),
        ("review[pt]", [5]),
        ("2014:2016[dp]", [1, 3, 5]),
        ("2016:[dp]", [3, 4]),
        ("salmonella NOT 2014[dp]", [2]),
        ('"lung cancer"[ti]', []),
        ('"lung cancer"', [4]),
        ('"cancer of the lung"', [4]),
        ("therap*", [5]),
        ("therap*[ab]", [5]),
        ("therap*[ti]", [5]),
    ],
)
def test_documented_semantics_on_hand_made_articles(small, text, want):
    assert ids(small, text) == want


def test_scores_text_terms_by_bm25_and_field_values_not_at_all(small):
    def run(text):
        hits, _ = small.run(compile(parse(text), small.schema, small.analysis), 10)
        return dict(hits)

    plain = run("salmonella")
    assert set(plain) == {1, 2} and all(s > 0 for s in plain.values())
    assert plain[1] > plain[2]  # a title match outweighs an abstract match ([tiab] boost)
    assert run("salmonella AND smith[au] AND 2000:2030[dp]") == {1: plain[1]}
    assert run("salmonella NOT eng[la]") == {2: plain[2]}
    assert set(run("smith j[au]").values()) == {0.0}
    assert run("salmonella[ti]")[1] < plain[1]  # [ti] alone is not boosted
    assert all(math.isfinite(s) for s in run("therap* OR salmonella").values())


def test_stop_words_in_phrases_follow_the_index(tmp_path):
    arts = [
        art(1, title="cancer of the lung"),
        art(2, title="cancer in a lung"),
        art(3, title="lung cancer of"),
    ]
    keep = build(tmp_path / "keep", arts, Analysis())
    drop = build(tmp_path / "drop", arts, Analysis(index_stopwords=False))

    def run(ix, text):
        return [int(i) for i in ix.ids(compile(parse(text), ix.schema, ix.analysis))]

    assert run(keep, '"cancer of the lung"') == [1]
    assert run(drop, '"cancer of the lung"') == [1, 2]  # stop words are one-word gaps
    assert run(keep, '"of the"') == [1]
    assert run(drop, '"of the"') == []  # nothing the index holds
    assert run(drop, "the lung") == [1, 2, 3]  # a bare stop word is dropped
    assert run(drop, "the") == []


def test_compile_returns_a_tantivy_query_and_never_recurses(small):
    q = compile(parse("a OR b"), small.schema, small.analysis)
    assert isinstance(q, tantivy.Query)
    # a hand-built tree far deeper than the parser allows still compiles (iteratively)
    e: object = Term("tiab", "salmonella")
    for _ in range(1100):  # deeper than Python's recursion limit
        e = Or((e, Term("tiab", "eggs"))) if isinstance(e, And) else And((e, Term("ti", "eggs")))
    assert text_terms(e) == ["salmonella", "eggs"]  # type: ignore[arg-type]
    compile(e, small.schema, small.analysis)  # type: ignore[arg-type]


def test_a_truncated_phrase_expanding_too_far_is_a_syntax_error_at_search_time(tmp_path):
    many = " ".join(f"therap{i:05d}x" for i in range(17_000))  # Tantivy's cap: 16,384
    ix = build(tmp_path / "ix", [art(1, title=f"lung {many}")], Analysis())
    assert ix.ids(compile(parse("therap*"), ix.schema, ix.analysis)).tolist() == [1]
    expr = parse('lung AND "lung therap*"[ti]')
    query = compile(expr, ix.schema, ix.analysis)
    with pytest.raises(QuerySyntaxError) as info, guard(expr):
        ix.run(query, 10)
    assert info.value.position == 9 and "truncated phrase" in str(info.value)
    with guard(expr):  # anything else passes through untouched
        assert ix.ids(compile(parse('"lung therap0000*"'), ix.schema, ix.analysis)).tolist() == [1]
    with pytest.raises(ValueError, match="other"), guard(expr):
        raise ValueError("other")


def test_language_names_map_to_medline_codes():
    from indexer.lexical.syntax.compiler import LANGUAGES

    want = {
        "english": "eng",
        "french": "fre",
        "german": "ger",
        "spanish": "spa",
        "japanese": "jpn",
        "chinese": "chi",
        "russian": "rus",
        "italian": "ita",
        "portuguese": "por",
        "dutch": "dut",
    }
    assert want.items() <= LANGUAGES.items()
    assert all(len(code) == 3 and code.islower() for code in LANGUAGES.values())
