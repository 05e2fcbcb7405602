"""Exports carry the complete citation (volume, issue, pages, ISSN, PMCID, full date,
affiliations, MeSH qualifiers), read back by real parsers: rispy (RIS), pybtex and
bibtexparser (BibTeX), the csv module, Biopython's ``Bio.Medline`` (PubMed's MEDLINE format);
and the Vancouver citation every result carries."""

from __future__ import annotations

import csv
import io

import bibtexparser
import pybtex.database
import rispy
from Bio import Medline
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from search.citation import vancouver
from web.exports import CSV_COLUMNS, LIST_SEPARATOR, to_bibtex, to_csv, to_medline, to_ris
from web.exports.fields import mesh_headings, page_range

ARTICLE = Article(
    pmid=29768149,
    title="Budesonide in asthma: a trial",
    sections=[Section("Background text.", "BACKGROUND"), Section("Results text.", "RESULTS")],
    journal="The Journal of Testing",
    journal_iso="J Test",
    year=2018,
    authors=["Smith JA", "Doe B", "WHO Study Group"],
    author_details=[
        AuthorDetail("Smith", "John A", "JA", "", ("Dept A, Univ X.", "Dept B, Univ Y."), None),
        AuthorDetail("Doe", "Bea", "B", "", ("Dept A, Univ X.",), "0000-0002-1825-0097"),
        AuthorDetail(collective="WHO Study Group"),
    ],
    mesh=[
        MeshTerm("Asthma", "D001249", True, (MeshQualifier("drug therapy", "Q000188", True),)),
        MeshTerm("Humans", "D006801", False, (), False),
        MeshTerm("Budesonide", "D019819", True, (), True),
    ],
    publication_types=["Journal Article", "Randomized Controlled Trial"],
    keywords=["inhaled corticosteroids"],
    languages=["eng", "fre"],
    doi="10.1000/test.1",
    issn="1234-5678",
    issn_type="Electronic",
    issn_linking="1234-0000",
    nlm_unique_id="0123456",
    volume="12",
    issue="3",
    pages="123-9",
    pub_date=PubDate(2018, 5, 17),
    article_date="2018-03-05",
    date_revised="2020-01-02",
    publication_status="ppublish",
    medline_status="MEDLINE",
    grants=[Grant("R01 HL123", "HL", "NHLBI NIH HHS", "United States")],
    chemicals=[Chemical("Budesonide", "D019819", "51333-22-3")],
    pmc="PMC1234567",
    comments_corrections=[CommentCorrection("ErratumIn", 30000001, "J Test. 2019;13(1):5")],
)


def hit(article: Article = ARTICLE, rank: int = 1) -> dict:
    """A result dict as the API exports it: the result fields plus the full ``record``."""
    return {
        "rank": rank,
        "pmid": article.pmid,
        "score": 0.5,
        "title": article.title,
        "journal": article.journal,
        "year": article.year,
        "authors": list(article.authors),
        "doi": article.doi,
        "mesh": [m.name for m in article.mesh],
        "snippet": "",
        "url": f"https://pubmed.ncbi.nlm.nih.gov/{article.pmid}/",
        "record": article.to_dict(),
    }


def test_page_range_expands_medline_abbreviated_last_pages() -> None:
    assert page_range("123-9") == ("123", "129")
    assert page_range("1123-45") == ("1123", "1145")
    assert page_range("e1234") == ("e1234", "")
    assert page_range("S12-S18") == ("S12", "S18")
    assert page_range("12-4, 18") == ("12", "14")
    assert page_range("") == ("", "")


def test_mesh_headings_mark_major_descriptors_and_qualifiers() -> None:
    assert mesh_headings(hit()) == ["Asthma/*drug therapy", "Humans", "*Budesonide"]
    assert mesh_headings({"mesh": ["Asthma"]}) == ["Asthma"]  # no record: the names


def test_ris_read_back_by_rispy() -> None:
    text = to_ris([hit()]).replace("\r\n", "\n")
    (entry,) = rispy.loads(text, list_tags=[*rispy.LIST_TYPE_TAGS, "AD", "LA"])
    assert entry["type_of_reference"] == "JOUR"
    assert entry["title"] == ARTICLE.title
    assert entry["authors"] == ARTICLE.authors
    assert entry["volume"] == "12" and entry["number"] == "3"
    assert (entry["start_page"], entry["end_page"]) == ("123", "129")
    assert entry["issn"] == "1234-5678"
    assert entry["date"] == "2018/05/17/"
    assert entry["year"] == "2018"
    assert entry["journal_name"] == ARTICLE.journal
    assert entry["doi"] == ARTICLE.doi
    assert entry["language"] == ["eng", "fre"]
    assert entry["alternate_title2"] == "J Test"  # JA
    assert entry["custom2"] == "PMC1234567"
    assert entry["keywords"] == [*mesh_headings(hit()), "inhaled corticosteroids"]
    assert entry["abstract"] == ARTICLE.abstract
    assert entry["author_address"] == ["Dept A, Univ X.", "Dept B, Univ Y."]
    assert entry["id"] == "29768149" and entry["urls"] == [hit()["url"]]


def test_bibtex_read_back_by_pybtex_and_bibtexparser() -> None:
    text = to_bibtex([hit()])
    (entry,) = pybtex.database.parse_string(text, "bibtex").entries.values()
    assert entry.fields["volume"] == "12" and entry.fields["number"] == "3"
    assert entry.fields["pages"] == "123--129"
    assert entry.fields["month"] == "May" and entry.fields["date"] == "2018-05-17"
    assert entry.fields["issn"] == "1234-5678"
    assert entry.fields["pmcid"] == "PMC1234567"
    assert entry.fields["affiliation"] == "Dept A, Univ X.; Dept B, Univ Y."
    assert "Asthma/*drug therapy" in entry.fields["keywords"]
    assert len(entry.persons["author"]) == 3
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (parsed,) = library.entries
    assert parsed.fields_dict["pages"].value == "123--129"
    assert parsed.fields_dict["journal"].value == ARTICLE.journal


def test_csv_has_the_citation_columns() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv([hit()]))))
    (row,) = rows
    assert tuple(rows[0]) == CSV_COLUMNS
    assert (row["volume"], row["issue"], row["pages"]) == ("12", "3", "123-9")
    assert (row["issn"], row["pmcid"], row["date"]) == ("1234-5678", "PMC1234567", "2018-05-17")
    assert row["journal_iso"] == "J Test"
    assert row["affiliations"].split(LIST_SEPARATOR) == ["Dept A, Univ X.", "Dept B, Univ Y."]
    assert row["mesh"].split(LIST_SEPARATOR) == mesh_headings(hit())
    assert row["abstract"] == ARTICLE.abstract


def test_medline_read_back_by_biopython() -> None:
    (rec,) = list(Medline.parse(io.StringIO(to_medline([hit()]))))
    assert rec["PMID"] == "29768149"
    assert rec["TI"] == ARTICLE.title
    assert rec["AB"] == ARTICLE.abstract
    assert rec["AU"] == ["Smith JA", "Doe B"] and rec["CN"] == ["WHO Study Group"]
    assert rec["FAU"] == ["Smith, John A", "Doe, Bea"]
    assert rec["AD"] == ["Dept A, Univ X.", "Dept B, Univ Y.", "Dept A, Univ X."]
    assert rec["AUID"] == ["ORCID: 0000-0002-1825-0097"]
    assert (rec["VI"], rec["IP"], rec["PG"]) == ("12", "3", "123-9")
    assert rec["DP"] == "2018 May 17"
    assert rec["IS"] == "1234-5678 (Electronic) 1234-0000 (Linking)"
    assert rec["LA"] == ["eng", "fre"]
    assert rec["PT"] == ARTICLE.publication_types
    assert rec["MH"] == mesh_headings(hit())
    assert rec["OT"] == ["inhaled corticosteroids"]
    assert rec["RN"] == ["51333-22-3 (Budesonide)"]
    assert rec["GR"] == ["R01 HL123/HL/NHLBI NIH HHS/United States"]
    assert rec["EIN"] == ["J Test. 2019;13(1):5 PMID: 30000001"]
    assert (rec["PMC"], rec["PST"], rec["STAT"]) == ("PMC1234567", "ppublish", "MEDLINE")
    assert (rec["DEP"], rec["LR"], rec["JID"]) == ("20180305", "20200102", "0123456")
    assert rec["TA"] == "J Test" and rec["JT"] == ARTICLE.journal
    assert rec["LID"] == "10.1000/test.1 [doi]" and rec["AID"] == ["10.1000/test.1 [doi]"]
    assert rec["SO"] == "J Test. 2018 May 17;12(3):123-9. doi: 10.1000/test.1."


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")))


@settings(max_examples=150, deadline=None)
@given(title=_text, abstract=_text, affiliation=_text)
def test_medline_hostile_text_stays_in_its_field(title, abstract, affiliation) -> None:
    evil = Article(
        pmid=7,
        title=title + "\nPMID- 666\n\nTI  - injected",
        sections=[Section(abstract * 3)],
        authors=["Smith JA"],
        author_details=[AuthorDetail("Smith", affiliations=(affiliation,))],
    )
    other = Article(pmid=8, title="Real record")
    records = list(Medline.parse(io.StringIO(to_medline([hit(evil), hit(other, 2)]))))
    assert [r["PMID"] for r in records] == ["7", "8"]
    assert records[0]["TI"] == " ".join(evil.title.split())
    assert records[0].get("AB", "") == " ".join(evil.abstract.split())
    if affiliation.split():
        assert records[0]["AD"] == [" ".join(affiliation.split())]
    assert records[1]["TI"] == "Real record"


def test_vancouver_as_pubmed_cites() -> None:
    assert vancouver(ARTICLE) == (
        "Smith JA, Doe B, WHO Study Group. Budesonide in asthma: a trial. J Test. "
        "2018 May 17;12(3):123-9. doi: 10.1000/test.1. Epub 2018 Mar 5. "
        "PMID: 29768149; PMCID: PMC1234567."
    )
    many = Article(pmid=5, title="Why?", authors=[f"A{i} B" for i in range(8)], year=2020)
    assert vancouver(many) == "A0 B, A1 B, A2 B, A3 B, A4 B, A5 B, et al. Why? 2020. PMID: 5."
    assert vancouver(Article(pmid=6, title="Bare")) == "Bare. PMID: 6."
    season = Article(pmid=9, title="T", pub_date=PubDate(2001, season="Spring"), volume="4")
    assert vancouver(season) == "T. 2001 Spring;4. PMID: 9."
    span = Article(
        pmid=10, title="T", year=1998, pub_date=PubDate(medline_date="1998 Dec-1999 Jan")
    )
    assert vancouver(span) == "T. 1998 Dec-1999 Jan. PMID: 10."
