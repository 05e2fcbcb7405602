"""Exports (RIS, BibTeX, CSV): parsed back, they must say what the JSON results say."""

from __future__ import annotations

import csv
import io
import re

import bibtexparser
import pybtex.database
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web.exports import (
    CSV_COLUMNS,
    LIST_SEPARATOR,
    bibtex_escape,
    slug,
    to_bibtex,
    to_csv,
    to_ris,
)

# parsers (independent of the writers) -------------------------------------------------------


def parse_ris(text: str) -> list[dict[str, list[str]]]:
    records: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in text.split("\r\n"):
        if not line:
            continue
        m = re.fullmatch(r"([A-Z][A-Z0-9])  - ?(.*)", line)
        assert m, f"not a RIS line: {line!r}"
        tag, value = m.groups()
        if tag == "TY":
            assert current is None, "TY inside a record"
            current = {}
        assert current is not None, f"{tag} outside a record"
        if tag == "ER":
            records.append(current)
            current = None
            continue
        current.setdefault(tag, []).append(value)
    assert current is None, "record without ER"
    return records


_UNESCAPE = {
    r"\textbackslash{}": "\\",
    r"\textbraceleft{}": "{",
    r"\textbraceright{}": "}",
    "{@}": "@",
    r"\^{}": "^",
    r"\~{}": "~",
    r"\{": "{",
    r"\}": "}",
    r"\$": "$",
    r"\&": "&",
    r"\%": "%",
    r"\#": "#",
    r"\_": "_",
}
_UNESCAPE_RE = re.compile("|".join(re.escape(k) for k in _UNESCAPE))


def bib_unescape(text: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPE[m.group()], text)


def _braced(text: str, start: int) -> tuple[str, int]:
    """The content of the brace group opening at ``text[start]`` and the index after it."""
    assert text[start] == "{"
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    raise AssertionError("unbalanced braces")


def parse_bibtex(text: str) -> list[tuple[str, dict[str, str]]]:
    entries = []
    for m in re.finditer(r"@article\{([^,\s]+),\n", text):
        fields: dict[str, str] = {}
        i = m.end()
        while True:
            fm = re.compile(r"\s*(\w+) = ").match(text, i)
            if not fm:
                break
            value, i = _braced(text, fm.end())
            fields[fm.group(1)] = value
            if text.startswith(",\n", i):
                i += 2
        assert text.startswith("\n}", i), f"entry {m.group(1)} not closed"
        entries.append((m.group(1), fields))
    return entries


def bib_authors(field: str) -> list[str]:
    """ "Smith, J. A." -> "Smith JA"; "{Group}" -> "Group" (the inverse of the writer)."""
    out = []
    for part in field.split(" and "):
        if part.startswith("{") and part.endswith("}"):
            out.append(bib_unescape(part[1:-1]))
        else:
            surname, initials = part.split(", ")
            out.append(f"{bib_unescape(surname)} {initials.replace('.', '').replace(' ', '')}")
    return out


def csv_uncell(text: str) -> str:
    """Drops the ``'`` the writer puts at each piece start (the cell's start, or after ``,``
    ``;`` or tab, past spaces and quotes)."""
    return re.sub(r"""(^|[,;\t])([ "]*)'""", r"\1\2", text)


# pure functions --------------------------------------------------------------------------

HIT = {
    "rank": 1,
    "pmid": 123,
    "score": 0.5,
    "title": "50% of {braces} & $money$ #1_best ^caret ~tilde \\back",
    "journal": "J & B",
    "year": 2001,
    "authors": ["Smith JA", "O'Brien-Łukasz K", "WHO Study Group"],
    "doi": "10.1000/a_b",
    "mesh": ["Asthma", "Humans"],
    "snippet": "short snippet",
    "highlights": [[0, 5]],
    "url": "https://pubmed.ncbi.nlm.nih.gov/123/",
    "abstract": "Full\nabstract text.",
}


def test_bibtex_escapes_every_special_character_and_round_trips():
    ((key, fields),) = parse_bibtex(to_bibtex([HIT]))
    assert key == "smith2001pmid123"
    assert bib_unescape(fields["title"]) == HIT["title"]
    assert "{braces}" not in fields["title"]  # braces are escaped, not TeX groups
    assert bib_authors(fields["author"]) == HIT["authors"]
    assert fields["author"].startswith("Smith, J. A. and ")
    assert "{WHO Study Group}" in fields["author"]  # a collective name stays whole
    assert bib_unescape(fields["doi"]) == "10.1000/a_b"
    assert fields["abstract"] == "Full abstract text."


def test_bibtex_keys_are_unique_even_for_the_same_author_and_year():
    hits = [dict(HIT, pmid=p) for p in (1, 2, 3)] + [dict(HIT, pmid=1)]
    keys = [k for k, _ in parse_bibtex(to_bibtex(hits))]
    assert len(keys) == 4 and len(set(keys)) == 4


def test_csv_defuses_formulas_and_round_trips():
    evil = dict(HIT, title='=HYPERLINK("http://x")', journal="+cmd", authors=["@SUM(A1)"])
    rows = list(csv.reader(io.StringIO(to_csv([HIT, evil]))))
    assert tuple(rows[0]) == CSV_COLUMNS
    good = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert good["title"] == HIT["title"]
    assert good["authors"].split(LIST_SEPARATOR) == HIT["authors"]
    bad = dict(zip(CSV_COLUMNS, rows[2], strict=True))
    assert bad["title"].startswith("'=") and bad["journal"] == "'+cmd"
    assert bad["authors"] == "'@SUM(A1)"


def test_ris_has_one_line_per_tag_and_no_embedded_newlines():
    hit = dict(HIT, title="two\nlines\r\nER  - ", abstract="a\nb")
    (record,) = parse_ris(to_ris([hit]))
    assert record["TI"] == ["two lines ER -"]
    assert record["AU"] == HIT["authors"]
    assert record["AB"] == ["a b"] and record["ID"] == ["123"]


def test_slug():
    assert slug("Asthma: inhaled Budesonide?") == "asthma-inhaled-budesonide"
    assert slug("<script>") == "script"
    assert slug("../../etc/passwd") == "etc-passwd"
    assert slug("    ") == "results"
    assert slug("é" * 3) == "eee"
    assert len(slug("word " * 100)) <= 50


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(title=_texts, journal=_texts)
def test_bibtex_escaping_round_trips_any_text(title: str, journal: str):
    hit = dict(HIT, title=title, journal=journal)
    ((_, fields),) = parse_bibtex(to_bibtex([hit]))
    assert bib_unescape(fields["title"]) == " ".join(title.split())
    # balanced: every brace in the output is escaped or structural
    assert bibtex_escape(title).count("{") - bibtex_escape(title).count("\\{") == bibtex_escape(
        title
    ).count("}") - bibtex_escape(title).count("\\}")


@settings(max_examples=150, deadline=None)
@given(title=_texts, authors=st.lists(_texts, max_size=4))
def test_csv_round_trips_any_text(title: str, authors: list[str]):
    hit = dict(HIT, title=title, authors=authors)
    rows = list(csv.reader(io.StringIO(to_csv([hit]))))
    assert len(rows) == 2
    row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert csv_uncell(row["title"]) == " ".join(title.split())
    assert not row["title"].startswith(("=", "+", "-", "@"))
    assert csv_uncell(row["authors"]) == " ".join(LIST_SEPARATOR.join(authors).split())


# BibTeX through real parsers --------------------------------------------------------------

INJECTION = 'x}, note = "INJ"} @misc(injected, title = "Injected entry")'


def parsed_by_pybtex(text: str) -> list[tuple[str, str]]:
    """(key, title) of every entry pybtex reads (strict mode: any error fails the test)."""
    data = pybtex.database.parse_string(text, "bibtex")
    return [(key, entry.fields["title"]) for key, entry in data.entries.items()]


def parsed_by_bibtexparser(text: str) -> list[tuple[str, str]]:
    """(key, title) of every entry bibtexparser 2 reads; no block may fail."""
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, library.failed_blocks
    assert not library.comments  # nothing of a record leaked out between entries
    return [(entry.key, entry.fields_dict["title"].value) for entry in library.entries]


PARSERS = [parsed_by_pybtex, parsed_by_bibtexparser]


@pytest.mark.parametrize("parse", PARSERS, ids=["pybtex", "bibtexparser"])
@pytest.mark.parametrize("title", [INJECTION, "lone {", "lone }", "}{", "a\\", "@misc(x,"])
def test_bibtex_injection_stays_inside_its_field(parse, title: str):
    hits = [dict(HIT, pmid=1, title=title), dict(HIT, pmid=2, title="Real entry")]
    entries = parse(to_bibtex(hits))
    assert [k for k, _ in entries] == ["smith2001pmid1", "smith2001pmid2"]
    assert bib_unescape(entries[0][1]) == title
    assert entries[1][1] == "Real entry"


def test_bibtex_an_author_name_with_a_comma_or_and_stays_one_name():
    authors = ["Smith and Jones JA", "Doe, Jr JA", "AND Group"]
    text = to_bibtex([dict(HIT, authors=authors)])
    (entry,) = pybtex.database.parse_string(text, "bibtex").entries.values()
    assert len(entry.persons["author"]) == 3
    ((_, fields),) = parse_bibtex(text)
    assert fields["author"].startswith("{Smith and Jones}, J. A. and {Doe, Jr}, J. A. and ")


_HOSTILE_TOKENS = [
    *'{}"@%\\\n\t\r,;=()#~^$&_ ',
    "@misc(",
    "@article{",
    "}, note = {",
    '", x = "',
    "\\{",
    "\\}",
    "\\textbackslash",
    " and ",
    "%comment\n",
    "é",
    "Ω",
    "日本",
]
_hostile = st.lists(
    st.one_of(
        st.sampled_from(_HOSTILE_TOKENS),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=25,
).map("".join)
_hostile_hit = st.builds(
    lambda pmid, title, journal, authors, year: dict(
        HIT, pmid=pmid, title=title, journal=journal, authors=authors, year=year, abstract=title
    ),
    st.integers(1, 50),
    _hostile,
    _hostile,
    st.lists(_hostile, max_size=3),
    st.one_of(st.none(), st.integers(1900, 2030), _hostile),
)


@settings(max_examples=150, deadline=None)
@given(hits=st.lists(_hostile_hit, min_size=1, max_size=4))
def test_bibtex_hostile_records_round_trip_through_real_parsers(hits: list[dict]):
    text = to_bibtex(hits)
    expected = [k for k, _ in parse_bibtex(text)]
    assert len(expected) == len(hits) and len(set(expected)) == len(hits)
    for parse in PARSERS:
        entries = parse(text)
        assert [k for k, _ in entries] == expected, parse.__name__
        for (_, title), hit in zip(entries, hits, strict=True):
            assert bib_unescape(title) == " ".join(hit["title"].split()), parse.__name__
    # no author name splits into two (", " or " and " inside a name)
    people = pybtex.database.parse_string(text, "bibtex").entries.values()
    for entry, hit in zip(people, hits, strict=True):
        names = [a for a in hit["authors"] if a.split()]
        assert len(entry.persons.get("author", [])) == len(names)


# CSV read in every locale ----------------------------------------------------------------

TRIGGERS = ("=", "+", "-", "@", "\t")


def read_csv(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def assert_no_field_is_a_formula(text: str) -> None:
    for delimiter in (",", ";", "\t"):
        for row in read_csv(text, delimiter):
            for field in row:
                # a line break opens a field only where a quoted span runs into the next row
                assert not field.lstrip(' "\r\n').startswith(TRIGGERS), (delimiter, field)


@pytest.mark.parametrize(
    "title",
    ["semicolon a;=1+1;b", "tab a\t=1", "a, +SUM(A1)", 'q;"=1', 'q; " -2', "a;'b", "x;@y"],
)
def test_csv_pieces_a_locale_splits_off_are_not_formulas(title: str):
    text = to_csv([dict(HIT, title=title, journal=title, authors=[title, title])])
    assert_no_field_is_a_formula(text)
    row = dict(zip(CSV_COLUMNS, read_csv(text, ",")[1], strict=True))
    assert csv_uncell(row["title"]) == " ".join(title.split())
    assert csv_uncell(row["authors"]) == LIST_SEPARATOR.join([" ".join(title.split())] * 2)
    assert text.count('"') >= 2  # a cell holding ; , tab or " is quoted


_cell_text = st.lists(
    st.one_of(
        st.sampled_from([*"=+-@';,\t\r\n\" ", '""', "=1+1", "a;", "b,", "+cmd"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(title=_cell_text, journal=_cell_text, authors=st.lists(_cell_text, max_size=3))
def test_csv_hostile_cells_are_defused_in_every_locale(title, journal, authors):
    hit = dict(HIT, title=title, journal=journal, authors=authors, mesh=authors, doi=title)
    text = to_csv([hit, dict(hit, abstract=journal, snippet="")])
    assert_no_field_is_a_formula(text)
    rows = read_csv(text, ",")
    assert len(rows) == 3 and tuple(rows[0]) == CSV_COLUMNS
    for row in rows[1:]:
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert csv_uncell(cells["title"]) == " ".join(title.split())
        assert csv_uncell(cells["doi"]) == " ".join(title.split())
        assert csv_uncell(cells["journal"]) == " ".join(journal.split())
        assert csv_uncell(cells["authors"]) == " ".join(LIST_SEPARATOR.join(authors).split())
    assert csv_uncell(dict(zip(CSV_COLUMNS, rows[2], strict=True))["abstract"]) == " ".join(
        journal.split()
    )


# through the API ---------------------------------------------------------------------------

QUERY = {"q": "asthma budesonide airway", "k": "8", "mode": "hybrid"}


@pytest.fixture
def json_page(client) -> dict:
    page = client.get("/api/search", query_string=QUERY).get_json()
    assert page["ok"] and len(page["results"]) == 8
    return page


def _abstract(client, pmid: int) -> str:
    return client.get(f"/api/articles/{pmid}").get_json()["abstract"]


def _export(client, fmt: str, path: str = "/api/search", args=None):
    response = client.get(path, query_string={**(args or QUERY), "format": fmt})
    assert response.status_code == 200, response.data[:300]
    return response


def test_ris_export_matches_json(client, json_page):
    response = _export(client, "ris")
    assert response.headers["Content-Type"] == "application/x-research-info-systems"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="pubmed-search-asthma-budesonide-airway.ris"'
    )
    records = parse_ris(response.get_data(as_text=True))
    assert len(records) == len(json_page["results"])
    for record, hit in zip(records, json_page["results"], strict=True):
        assert record["TY"] == ["JOUR"]
        assert record["TI"] == [hit["title"]]
        assert record["AU"] == hit["authors"]
        assert record["PY"] == [str(hit["year"])]
        assert record["JO"] == [hit["journal"]]
        assert record["DO"] == [hit["doi"]]
        assert record["ID"] == [str(hit["pmid"])]
        assert record["UR"] == [hit["url"]]
        abstract = _abstract(client, hit["pmid"])
        if abstract:
            assert record["AB"] == [abstract]
        else:
            assert "AB" not in record


def test_bibtex_export_matches_json(client, json_page):
    response = _export(client, "bibtex")
    assert response.headers["Content-Type"] == "application/x-bibtex"
    assert response.headers["Content-Disposition"].endswith('.bib"')
    entries = parse_bibtex(response.get_data(as_text=True))
    assert len({k for k, _ in entries}) == len(json_page["results"])
    for (_, fields), hit in zip(entries, json_page["results"], strict=True):
        assert bib_unescape(fields["title"]) == hit["title"]
        assert bib_authors(fields["author"]) == hit["authors"]
        assert fields["year"] == str(hit["year"])
        assert bib_unescape(fields["journal"]) == hit["journal"]
        assert bib_unescape(fields["doi"]) == hit["doi"]
        assert fields["pmid"] == str(hit["pmid"])


def test_csv_export_matches_json(client, json_page):
    response = _export(client, "csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(json_page["results"])
    for row, hit in zip(rows, json_page["results"], strict=True):
        assert int(row["rank"]) == hit["rank"] and int(row["pmid"]) == hit["pmid"]
        assert float(row["score"]) == pytest.approx(hit["score"])
        assert row["title"] == hit["title"]
        assert row["authors"].split(LIST_SEPARATOR) == hit["authors"]
        # headings with qualifiers and major marks: ``*Asthma``, ``Asthma/*drug therapy``
        names = [h.lstrip("*").split("/")[0] for h in row["mesh"].split(LIST_SEPARATOR)]
        assert list(dict.fromkeys(n for n in names if n)) == hit["mesh"]
        assert int(row["year"]) == hit["year"] and row["doi"] == hit["doi"]
        assert row["abstract"] == _abstract(client, hit["pmid"])


def test_similar_export(client, json_page):
    pmid = json_page["results"][0]["pmid"]
    args = {"k": "5"}
    expected = client.get(f"/api/articles/{pmid}/similar", query_string=args).get_json()
    response = _export(client, "ris", f"/api/articles/{pmid}/similar", args)
    assert f'filename="pubmed-search-similar-{pmid}.ris"' in response.headers["Content-Disposition"]
    ids = [r["ID"][0] for r in parse_ris(response.get_data(as_text=True))]
    assert ids == [str(h["pmid"]) for h in expected["results"]]


def test_export_of_an_empty_page(client):
    response = _export(client, "csv", args={"q": "zzqqxxnothing", "mode": "lexical"})
    assert response.get_data(as_text=True).strip() == ",".join(CSV_COLUMNS)
