"""The complete citation (#17), element by element, on hand-written PubMed XML: the edge cases
the round-trip property test (test_sources_props) does not draw."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from indexer.ingest.prefilter import PrefilteredXML
from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    PubDate,
    Section,
)
from tests.test_sources import one, read, rec

DOI = '"doi"'


def ref(pmid: str, attr: str = '"pubmed"') -> str:
    return (
        f"<Reference><Citation>C {pmid}</Citation><ArticleIdList><ArticleId IdType={attr}>"
        f"{pmid}</ArticleId></ArticleIdList></Reference>"
    )


def test_references_sibling_nested_deduplicated_and_only_pubmed_ids(tmp_path: Path) -> None:
    data = (
        f"<ReferenceList>{ref('11')}{ref(' 12 ')}<ReferenceList>{ref('13')}{ref('11')}"
        f"</ReferenceList>{ref('99', DOI)}{ref('0')}{ref('x1')}</ReferenceList>"
        f"<ReferenceList>{ref('14')}</ReferenceList>"  # older records: one list per reference
        f"<ReferenceList>{ref('15', chr(39) + 'pubmed' + chr(39))}</ReferenceList>"
    )
    a = one(tmp_path, rec(1, pubmed_data=data))
    assert a.references == [11, 12, 13, 14, 15]


def test_references_read_the_same_when_the_prefilter_passes_a_segment_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = f"<ReferenceList>{ref('21')}<ReferenceList>{ref('22')}</ReferenceList></ReferenceList>"
    record = rec(2, pubmed_data=data)
    filtered = one(tmp_path, record)
    defaults = PrefilteredXML.__init__.__defaults__  # (max_segment, block)
    monkeypatch.setattr(PrefilteredXML.__init__, "__defaults__", (16, 16))  # no record fits
    raw = PrefilteredXML(io.BytesIO(record.encode())).read()
    assert b"<ReferenceList>" in raw and b"CitedPMIDs" not in raw  # passed through as it was
    passed = one(tmp_path, record)
    monkeypatch.setattr(PrefilteredXML.__init__, "__defaults__", defaults)
    assert filtered.references == passed.references == [21, 22]


def test_journal_issue_pages_issn_and_ids(tmp_path: Path) -> None:
    article = (
        '<Journal><ISSN IssnType="Print">0028-4793</ISSN><JournalIssue CitedMedium="Print">'
        "<Volume>378</Volume><Issue>20 Suppl 1</Issue><PubDate><Year>2018</Year><Month>May</Month>"
        "<Day>17</Day></PubDate></JournalIssue><Title>N Engl J Med</Title></Journal>"
        "<ArticleTitle>T</ArticleTitle><Pagination><StartPage>e12</StartPage>"
        "<EndPage>e19</EndPage></Pagination>"
        "<VernacularTitle>Titre  <i>fran\u00e7ais</i></VernacularTitle>"
        '<ArticleDate DateType="Electronic"><Year>2018</Year><Month>05</Month><Day>01</Day>'
        "</ArticleDate>"
    )
    citation = (
        "<DateRevised><Year>2022</Year><Month>04</Month><Day>10</Day></DateRevised>"
        "<MedlineJournalInfo><Country>US</Country><NlmUniqueID>0255562</NlmUniqueID>"
        "<ISSNLinking>0028-4793</ISSNLinking></MedlineJournalInfo>"
    )
    data = (
        "<PublicationStatus>epublish</PublicationStatus><ArticleIdList>"
        '<ArticleId IdType="pubmed">3</ArticleId><ArticleId IdType="pmc">PMC6000001</ArticleId>'
        "</ArticleIdList>"
    )
    a = one(tmp_path, rec(3, article, citation, data))
    assert (a.issn, a.issn_type, a.issn_linking, a.nlm_unique_id) == (
        "0028-4793", "Print", "0028-4793", "0255562",
    )  # fmt: skip
    assert (a.volume, a.issue, a.pages) == ("378", "20 Suppl 1", "e12-e19")
    assert a.pub_date == PubDate(2018, 5, 17) and a.pub_date.iso() == "2018-05-17"
    assert (a.article_date, a.date_revised) == ("2018-05-01", "2022-04-10")
    assert (a.publication_status, a.medline_status, a.pmc) == ("epublish", "MEDLINE", "PMC6000001")
    assert a.vernacular_title == "Titre français"


@pytest.mark.parametrize(
    ("pubdate", "year", "expected"),
    [
        ("<Year>1998</Year><Month>12</Month>", 1998, PubDate(1998, 12)),
        ("<Year>1998</Year><Month>sept</Month><Day>31</Day>", 1998, PubDate(1998, 9, 31)),
        ("<Year>1998</Year><Month>Smarch</Month><Day>3</Day>", 1998, PubDate(1998, None, 3)),
        ("<Year>1998</Year><Season>Winter</Season>", 1998, PubDate(1998, season="Winter")),
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", 1998,
         PubDate(medline_date="1998 Dec-1999 Jan")),
        ("", None, None),
    ],
)  # fmt: skip
def test_pub_date_as_far_as_given(
    tmp_path: Path, pubdate: str, year: int | None, expected: PubDate | None
) -> None:
    article = f"<Journal><JournalIssue><PubDate>{pubdate}</PubDate></JournalIssue></Journal>"
    a = one(tmp_path, rec(4, article))
    assert (a.year, a.pub_date) == (year, expected)


def test_authors_affiliations_orcid_aligned_with_the_display_names(tmp_path: Path) -> None:
    authors = (
        "<AuthorList>"
        '<Author ValidYN="Y"><LastName>Smith</LastName><ForeName>Jane A</ForeName>'
        "<Initials>JA</Initials><Identifier Source='ORCID'>https://orcid.org/0000-0002-1825-009x"
        "</Identifier><AffiliationInfo><Affiliation>Dept A, Univ X.</Affiliation>"
        '<Identifier Source="GRID">grid.1</Identifier></AffiliationInfo>'
        "<AffiliationInfo><Affiliation> Dept B </Affiliation></AffiliationInfo></Author>"
        '<Author ValidYN="N"><LastName>Wrong</LastName><AffiliationInfo><Affiliation>W'
        "</Affiliation></AffiliationInfo></Author>"
        "<Author><AffiliationInfo><Affiliation>Nameless</Affiliation></AffiliationInfo></Author>"
        "<Author><CollectiveName>The Group</CollectiveName>"
        "<Identifier Source='ORCID'>0000000218250097</Identifier></Author>"
        "</AuthorList>"
    )
    a = one(tmp_path, rec(5, authors))
    assert a.authors == ["Smith JA", "The Group"]
    assert a.author_details == [
        AuthorDetail(
            "Smith", "Jane A", "JA", "", ("Dept A, Univ X.", "Dept B"), "0000-0002-1825-009X"
        ),
        AuthorDetail(collective="The Group", orcid="0000-0002-1825-0097"),
    ]  # fmt: skip


def test_grants_chemicals_and_comments_corrections(tmp_path: Path) -> None:
    grants = (
        '<GrantList CompleteYN="Y"><Grant><GrantID>R01 HL-1</GrantID><Acronym>HL</Acronym>'
        "<Agency>NHLBI NIH HHS</Agency><Country>United States</Country></Grant>"
        "<Grant><Agency>Wellcome Trust</Agency></Grant><Grant/></GrantList>"
    )
    citation = (
        '<ChemicalList><Chemical><RegistryNumber>0</RegistryNumber><NameOfSubstance UI="D001993">'
        "Bronchodilator Agents</NameOfSubstance></Chemical><Chemical>"
        "<RegistryNumber>5</RegistryNumber></Chemical></ChemicalList><CommentsCorrectionsList>"
        '<CommentsCorrections RefType="RetractionIn"><RefSource>J. 2020;1:2</RefSource>'
        '<PMID Version="1">123</PMID></CommentsCorrections>'
        '<CommentsCorrections RefType="ErratumIn"><RefSource>J. 2021</RefSource>'
        "</CommentsCorrections><CommentsCorrections><RefSource>no type</RefSource>"
        "</CommentsCorrections></CommentsCorrectionsList>"
    )
    a = one(tmp_path, rec(6, "<ArticleTitle>T</ArticleTitle>" + grants, citation))
    assert a.grants == [
        Grant("R01 HL-1", "HL", "NHLBI NIH HHS", "United States"), Grant(agency="Wellcome Trust"),
    ]  # fmt: skip
    assert a.chemicals == [Chemical("Bronchodilator Agents", "D001993", "0")]
    assert a.comments_corrections == [
        CommentCorrection("RetractionIn", 123, "J. 2020;1:2"),
        CommentCorrection("ErratumIn", None, "J. 2021"),
    ]


def test_other_abstract_english_only_when_there_is_no_abstract(tmp_path: Path) -> None:
    others = (
        '<OtherAbstract Type="Publisher" Language="ger"><AbstractText>Deutsch</AbstractText>'
        '</OtherAbstract><OtherAbstract Type="Publisher" Language="eng">'
        '<AbstractText Label="AIM">English.</AbstractText></OtherAbstract>'
    )
    a = one(tmp_path, rec(7, citation=others))
    assert a.sections == [Section("English.", "AIM")] and a.abstract_source == "other_abstract"
    own = "<Abstract><AbstractText>Own.</AbstractText></Abstract>"
    b = one(tmp_path, rec(8, own, citation=others))
    assert b.sections == [Section("Own.")] and b.abstract_source == "abstract"
    german_only = '<OtherAbstract Language="ger"><AbstractText>D</AbstractText></OtherAbstract>'
    c = one(tmp_path, rec(9, citation=german_only))
    assert c.sections == [] and c.abstract == "" and c.abstract_source == "abstract"


def test_label_only_sections_are_kept_and_not_part_of_the_abstract_text(tmp_path: Path) -> None:
    abstract = (
        '<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND"/>'
        '<AbstractText Label="METHODS">We did x.</AbstractText><AbstractText> </AbstractText>'
        "</Abstract>"
    )
    a = one(tmp_path, rec(10, abstract))
    assert a.sections == [Section("", "BACKGROUND", "BACKGROUND"), Section("We did x.", "METHODS")]
    assert a.abstract == "We did x."


def test_jsonl_reads_every_field_and_names_a_malformed_one(tmp_path: Path) -> None:
    full = Article(
        pmid=11, title="T", sections=[Section("", "AIM"), Section("x")], authors=["A B"],
        author_details=[AuthorDetail("A", "Bo", "B", affiliations=("U",), orcid="0000-0001")],
        languages=["eng", "fre"], pub_date=PubDate(2001, 2, 3), article_date="2001-02",
        grants=[Grant("G1")], chemicals=[Chemical("C", "D1", "0")], references=[5, 6],
        comments_corrections=[CommentCorrection("CommentOn", 5, "J")], pmc="PMC1",
        volume="1", issue="2", pages="3-4", issn="1234-5678", issn_type="Print",
        abstract_source="other_abstract", vernacular_title="V", publication_status="ppublish",
    )  # fmt: skip
    bad = [
        ({"references": [1, "x"]}, "references PMID must be a positive integer"),
        ({"pub_date": {"month": 13}}, "pub_date month must be an integer from 1 to 12"),
        ({"article_date": "2001-13-01"}, "article_date must be an ISO date"),
        ({"authors": ["A"], "author_details": [{}, {}]}, "one entry per author (1), got 2"),
        ({"grants": ["x"]}, "grants must be a list of"),
        ({"chemicals": [{"name": 3}]}, "chemical name must be a string"),
        ({"comments_corrections": [{"pmid": 1}]}, "ref_type must be a non-empty string"),
        ({"abstract_source": "elsewhere"}, "abstract_source must be one of"),
        ({"mesh": [{"name": "M", "qualifiers": [{"name": "q", "major": 1}]}]}, "qualifier major"),
    ]
    lines = [json.dumps(full.to_dict())] + [json.dumps({"pmid": 12, **b}) for b, _ in bad]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    records, stats = read(path)
    assert records == [full]
    assert stats.skipped == len(bad)
    for (_, message), example in zip(bad, stats.skipped_examples, strict=True):
        assert message in example[2]
