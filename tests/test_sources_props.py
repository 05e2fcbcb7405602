"""Property tests for indexer.ingest.sources: generated articles survive a trip through PubMed XML
(written by a small writer here) and through JSONL; arbitrary input never raises anything
but SourceError."""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.records import Article, Deletion, MeshTerm, Section

SETTINGS = settings(
    max_examples=int(os.environ.get("SOURCES_PROP_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def norm(s: str) -> str:
    return " ".join(s.split())


# Characters XML 1.0 allows (no C0 controls but tab/LF/CR, no surrogates, no U+FFFE/U+FFFF),
# with markup-significant ones and whitespace of every kind made likely.
XML_CHARS = st.one_of(
    st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\ufffe\uffff",
    ),
    st.sampled_from(list("<>&\"' \t\n\r\u00a0\u2009\u3000é\u03b2\u00b5\U0001f600]]>")),
)
TEXT = st.text(XML_CHARS, max_size=40)
WORD = TEXT.filter(lambda s: norm(s) != "")


@dataclass(frozen=True)
class Author:
    last: str = ""
    initials: str = ""
    fore: str = ""
    collective: str = ""

    def display(self) -> str:
        """What the reader makes of it (the documented rule)."""
        last = norm(self.last)
        if last:
            given = norm(self.initials) or norm(self.fore)
            return f"{last} {given}" if given else last
        return norm(self.collective) or norm(self.fore)


AUTHORS = st.one_of(
    st.builds(Author, last=WORD, initials=TEXT, fore=TEXT),
    st.builds(Author, collective=WORD),
)


@st.composite
def generated(draw: st.DrawFn) -> tuple[Article, list[Author]]:
    authors = draw(st.lists(AUTHORS, max_size=4))
    doi = draw(st.one_of(st.none(), WORD))
    art = Article(
        pmid=draw(st.integers(1, 2**40)),
        version=draw(st.integers(1, 9)),
        title=draw(TEXT),
        sections=[
            Section(t, label, cat)
            for t, label, cat in draw(
                st.lists(
                    st.tuples(WORD, st.one_of(st.none(), WORD), st.one_of(st.none(), WORD)),
                    max_size=4,
                )
            )
        ],
        journal=draw(TEXT),
        journal_iso=draw(TEXT),
        year=draw(st.one_of(st.none(), st.integers(1000, 2999))),
        authors=[a.display() for a in authors],
        mesh=draw(
            st.lists(
                st.builds(
                    MeshTerm,
                    name=WORD,
                    ui=st.one_of(st.none(), st.from_regex(r"D[0-9]{6,9}", fullmatch=True)),
                    major=st.booleans(),
                ),
                max_size=4,
            )
        ),
        publication_types=draw(st.lists(WORD, max_size=3)),
        keywords=draw(st.lists(WORD, max_size=3)),
        languages=draw(st.lists(st.sampled_from(["eng", "fre", "chi"]), max_size=2)),
        doi=doi,
    )
    return art, authors


def expected(a: Article) -> Article:
    """The article as the reader returns it: text whitespace-normalised."""

    def opt(s: str | None) -> str | None:
        return norm(s) or None if s is not None else None

    return Article(
        pmid=a.pmid,
        version=a.version,
        title=norm(a.title),
        sections=[Section(norm(s.text), opt(s.label), opt(s.category)) for s in a.sections],
        journal=norm(a.journal),
        journal_iso=norm(a.journal_iso),
        year=a.year,
        authors=list(a.authors),
        mesh=[MeshTerm(norm(m.name), m.ui, m.major) for m in a.mesh],
        publication_types=[norm(p) for p in a.publication_types],
        keywords=[norm(k) for k in a.keywords],
        languages=list(a.languages),
        doi=opt(a.doi),
    )


# ----------------------------------------------------------------------------- the writer


def t(s: str) -> str:
    """Escape character data; CR as a reference so the parser keeps it (it is whitespace)."""
    return escape(s).replace("\r", "&#13;")


def attr(s: str) -> str:
    return quoteattr(s).replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


def el(tag: str, text: str, **attrs: str) -> str:
    a = "".join(f" {k}={attr(v)}" for k, v in attrs.items())
    return f"<{tag}{a}>{t(text)}</{tag}>"


def to_xml(a: Article, authors: list[Author]) -> str:
    pubdate = el("Year", str(a.year)) if a.year is not None else ""
    journal = (
        f"<Journal><ISSN>0000-0000</ISSN><JournalIssue><PubDate>{pubdate}</PubDate></JournalIssue>"
        f"{el('Title', a.journal)}{el('ISOAbbreviation', a.journal_iso)}</Journal>"
    )
    parts = [journal, el("ArticleTitle", a.title)]
    parts.append(el("ELocationID", "S0000", EIdType="pii", ValidYN="Y"))
    if a.doi is not None:
        parts.append(el("ELocationID", a.doi, EIdType="doi", ValidYN="Y"))
    if a.sections:
        texts = []
        for s in a.sections:
            kw = {}
            if s.label is not None:
                kw["Label"] = s.label
            if s.category is not None:
                kw["NlmCategory"] = s.category
            texts.append(el("AbstractText", s.text, **kw))
        parts.append(f"<Abstract>{''.join(texts)}</Abstract>")
    names = []
    for au in authors:
        if au.collective:
            names.append(f"<Author>{el('CollectiveName', au.collective)}</Author>")
        else:
            inner = el("LastName", au.last) + el("ForeName", au.fore) + el("Initials", au.initials)
            names.append(f'<Author ValidYN="Y">{inner}</Author>')
    parts.append(f"<AuthorList>{''.join(names)}</AuthorList>")
    parts.extend(el("Language", lang) for lang in a.languages)
    parts.append(
        "<PublicationTypeList>"
        + "".join(el("PublicationType", p) for p in a.publication_types)
        + "</PublicationTypeList>"
    )
    mesh = "".join(
        "<MeshHeading>"
        + el(
            "DescriptorName",
            m.name,
            MajorTopicYN="Y" if m.major else "N",
            **({"UI": m.ui} if m.ui else {}),
        )
        + "</MeshHeading>"
        for m in a.mesh
    )
    keywords = "".join(el("Keyword", k, MajorTopicYN="N") for k in a.keywords)
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">'
        f'<PMID Version="{a.version}">{a.pmid}</PMID><Article PubModel="Print">{"".join(parts)}'
        f"</Article><MeshHeadingList>{mesh}</MeshHeadingList>"
        f'<KeywordList Owner="NOTNLM">{keywords}</KeywordList></MedlineCitation>'
        f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{a.pmid}</ArticleId>'
        "</ArticleIdList></PubmedData></PubmedArticle>"
    )


def xml_document(records: list[str]) -> bytes:
    body = "\n".join(records)
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    return f"{head}<PubmedArticleSet>{body}</PubmedArticleSet>".encode()


def read_all(path: Path) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(iter_records(path, stats)), stats


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


# ----------------------------------------------------------------------------- round trips


@SETTINGS
@given(st.lists(generated(), min_size=1, max_size=5), st.booleans())
def test_pubmed_xml_round_trip(workdir: Path, items: list, gz: bool) -> None:
    path = workdir / ("rt.xml.gz" if gz else "rt.xml")
    data = xml_document([to_xml(a, authors) for a, authors in items])
    path.write_bytes(gzip.compress(data) if gz else data)
    records, stats = read_all(path)
    assert records == [expected(a) for a, _ in items]
    assert stats.articles == len(items) and stats.skipped == 0


@SETTINGS
@given(
    st.lists(
        st.one_of(generated().map(lambda g: g[0]), st.builds(Deletion, st.integers(1, 2**40)))
    ),
    st.booleans(),
)
def test_jsonl_round_trip(workdir: Path, items: list, gz: bool) -> None:
    path = workdir / ("rt.jsonl.gz" if gz else "rt.jsonl")
    lines = [
        json.dumps({"delete": r.pmid} if isinstance(r, Deletion) else r.to_dict()) for r in items
    ]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    records, stats = read_all(path)
    assert records == [r if isinstance(r, Deletion) else expected(r) for r in items]
    assert stats.articles + stats.deletions == len(items) and stats.skipped == 0


# ----------------------------------------------------------------------------- arbitrary input


def _only_source_errors(path: Path) -> tuple[list, SourceStats, SourceError | None]:
    stats = SourceStats()
    got: list = []
    try:
        got.extend(iter_records(path, stats))
    except SourceError as e:
        assert e.path == str(path) and str(path) in str(e)
        return got, stats, e
    return got, stats, None


NAMES = ["a.xml", "a.xml.gz", "a.jsonl", "a.jsonl.gz"]


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from(NAMES), st.booleans())
def test_arbitrary_bytes_only_raise_source_error(
    workdir: Path, data: bytes, name: str, compress: bool
) -> None:
    path = workdir / name
    path.write_bytes(gzip.compress(data) if compress else data)
    records, stats, _ = _only_source_errors(path)
    assert all(isinstance(r, Article | Deletion) for r in records)
    assert stats.articles + stats.deletions == len(records)


@SETTINGS
@given(st.text(max_size=2000), st.sampled_from(NAMES))
def test_arbitrary_text_only_raises_source_error(workdir: Path, text: str, name: str) -> None:
    path = workdir / name
    data = text.encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    _only_source_errors(path)


@SETTINGS
@given(generated(), st.integers(0, 2**32 - 1), st.sampled_from(["cut", "flip", "insert"]))
def test_damaged_xml_only_raises_source_error(workdir: Path, item, seed: int, how: str) -> None:
    data = bytearray(xml_document([to_xml(*item), to_xml(*item)]))
    rng = random.Random(seed)
    pos = rng.randrange(len(data))
    if how == "cut":
        del data[pos:]
    elif how == "flip":
        data[pos] ^= 1 << rng.randrange(8)
    else:
        data[pos:pos] = rng.choice([b"<", b"&", b"\xff", b"</PubmedArticle>", b"<!DOCTYPE x>"])
    path = workdir / "damaged.xml"
    path.write_bytes(bytes(data))
    records, _, _ = _only_source_errors(path)
    assert len(records) <= 2


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "pmid", "title", "abstract", "sections", "mesh", "year", "journal", "journal_iso",
    "authors", "doi", "publication_types", "keywords", "languages", "version", "delete", "deleted",
]  # fmt: skip


@SETTINGS
@given(
    st.lists(
        st.one_of(
            JSON_VALUES,
            st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
            st.fixed_dictionaries({"pmid": st.integers(-5, 10**20) | TEXT}),
        ),
        max_size=12,
    )
)
def test_jsonl_arbitrary_objects_are_read_or_counted(workdir: Path, values: list) -> None:
    path = workdir / "arb.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in values) + "\n", encoding="utf-8")
    records, stats, err = _only_source_errors(path)
    assert err is None
    assert stats.articles + stats.deletions == len(records)
    assert len(records) + stats.skipped == len(values)
    for r in records:
        assert r.pmid > 0
        if isinstance(r, Article):
            assert r.version > 0 and all(isinstance(a, str) and a for a in r.authors)
