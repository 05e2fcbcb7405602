"""The fields of one ``<MedlineCitation>`` / ``<Article>``: what :mod:`.pubmed_xml` fills in.

Field choices (see also :mod:`indexer.ingest.sources`): ``MeshTerm.major`` is True when the
descriptor *or any of its qualifiers* has MajorTopicYN="Y" (what PubMed's [majr] matches);
each qualifier keeps its own flag. Authors with ValidYN="N" are left out, as PubMed does, and
``author_details`` stays aligned with ``authors``. The year is JournalIssue/PubDate/Year, else
the first 4-digit year of MedlineDate, else ArticleDate/Year. An English OtherAbstract is the
abstract (``abstract_source="other_abstract"``) when the record has no Abstract text.
"""

from __future__ import annotations

import re
from typing import Any

from indexer.ingest.pubmed_links import chemicals, comments_corrections, grants, pubmed_data
from indexer.ingest.xml_text import attr, child_text, opt_text, text
from indexer.records import Article, AuthorDetail, MeshQualifier, MeshTerm, PubDate, Section
from indexer.records.parts import MONTHS

_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_NO_DATE = PubDate()
_ORCID = re.compile(r"(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dXx])$")


def fill(a: Article, mc: Any, elem: Any) -> Article:
    """``a`` with every field of the record ``elem`` (its MedlineCitation ``mc``)."""
    a.medline_status = attr(mc, "Status")
    article = None
    others: list[Any] = []
    for child in mc:
        tag = child.tag
        if tag == "Article":
            article = child
        elif tag == "MeshHeadingList":
            a.mesh = [m for m in map(mesh_term, child.iterchildren("MeshHeading")) if m]
        elif tag == "KeywordList":
            a.keywords.extend(k for k in map(text, child.iterchildren("Keyword")) if k)
        elif tag == "DateRevised":
            a.date_revised = iso_date(child)
        elif tag == "MedlineJournalInfo":
            a.nlm_unique_id = child_text(child, "NlmUniqueID")
            a.issn_linking = child_text(child, "ISSNLinking")
        elif tag == "ChemicalList":
            a.chemicals = chemicals(child)
        elif tag == "CommentsCorrectionsList":
            a.comments_corrections = comments_corrections(child)
        elif tag == "OtherAbstract":
            others.append(child)
    doi = None
    if article is not None:
        doi = _article(a, article)
    if others and not any(s.text for s in a.sections):
        for other in others:
            if (other.get("Language") or "eng") == "eng" and (secs := sections(other)):
                a.sections, a.abstract_source = secs, "other_abstract"
                break
    a.doi = pubmed_data(a, elem, doi)
    return a


def _article(a: Article, article: Any) -> str | None:
    """Fill what ``<Article>`` holds; returns its DOI ELocationID (None if it has none)."""
    doi = None
    article_date = None
    for child in article:
        tag = child.tag
        if tag == "Journal":
            _journal(a, child)
        elif tag == "ArticleTitle":
            a.title = text(child)
        elif tag == "Pagination":
            a.pages = _pages(child)
        elif tag == "ELocationID":
            if doi is None and child.get("EIdType") == "doi" and child.get("ValidYN") != "N":
                doi = text(child) or None
        elif tag == "Abstract":
            a.sections = sections(child)
        elif tag == "AuthorList":
            a.authors, a.author_details = authors(child)
        elif tag == "Language":
            if lang := text(child):
                a.languages.append(lang)
        elif tag == "GrantList":
            a.grants = grants(child)
        elif tag == "PublicationTypeList":
            a.publication_types = [t for t in map(text, child.iterchildren("PublicationType")) if t]
        elif tag == "VernacularTitle":
            a.vernacular_title = text(child) or None
        elif tag == "ArticleDate" and article_date is None:
            article_date = child
            a.article_date = iso_date(child)
    if a.year is None and article_date is not None:
        a.year = year_of(child_text(article_date, "Year"))
    return doi


def sections(abstract: Any) -> list[Section]:
    """The AbstractText blocks of an Abstract / OtherAbstract; label-only blocks kept."""
    out = []
    for s in abstract.iterchildren("AbstractText"):
        t = text(s)
        label = attr(s, "Label")
        if t or label:
            out.append(Section(t, label, attr(s, "NlmCategory")))
    return out


def _pages(pagination: Any) -> str | None:
    pgn = child_text(pagination, "MedlinePgn")
    if pgn:
        return pgn
    start, end = child_text(pagination, "StartPage"), child_text(pagination, "EndPage")
    return f"{start}-{end}" if start and end else start or end


def year_of(value: str | None) -> int | None:
    """A 4-digit year, or the first one in ``value`` (a MedlineDate such as "1998 Dec-1999")."""
    if not value:
        return None
    if len(value) == 4 and value.isdigit() and value.isascii():
        return int(value)
    m = _YEAR.search(value)
    return int(m.group(1)) if m else None


def month_of(value: str | None) -> int | None:
    """1-12 from "Jan".."Dec" (any case, or a longer name) or "1".."12"; None otherwise."""
    if not value:
        return None
    v = value.strip().lower()
    if v.isdigit() and v.isascii():
        return int(v) if 1 <= int(v) <= 12 else None
    return MONTHS.index(v[:3]) + 1 if v[:3] in MONTHS else None


def day_of(value: str | None) -> int | None:
    v = (value or "").strip()
    return int(v) if v.isdigit() and v.isascii() and 1 <= int(v) <= 31 else None


def iso_date(el: Any) -> str | None:
    """``YYYY[-MM[-DD]]`` of a Year / Month / Day element (ArticleDate, DateRevised)."""
    parts = {c.tag: c.text for c in el}
    y = (parts.get("Year") or "").strip()
    if not (len(y) == 4 and y.isdigit() and y.isascii()):
        return None
    m = month_of(parts.get("Month"))
    if m is None:
        return y
    d = day_of(parts.get("Day"))
    return f"{y}-{m:02d}" if d is None else f"{y}-{m:02d}-{d:02d}"


def _journal(a: Article, journal: Any) -> None:
    for child in journal:
        tag = child.tag
        if tag == "Title":
            a.journal = text(child)
        elif tag == "ISOAbbreviation":
            a.journal_iso = text(child)
        elif tag == "ISSN":
            a.issn, a.issn_type = opt_text(child), attr(child, "IssnType")
        elif tag == "JournalIssue":
            for part in child:
                ptag = part.tag
                if ptag == "Volume":
                    a.volume = opt_text(part)
                elif ptag == "Issue":
                    a.issue = opt_text(part)
                elif ptag == "PubDate":
                    pd = a.pub_date = _pub_date(part)
                    a.year = None if pd is None else pd.year or year_of(pd.medline_date)


def _pub_date(pubdate: Any) -> PubDate | None:
    parts = {p.tag: p.text for p in pubdate}
    year = year_of(parts.get("Year"))
    medline = parts.get("MedlineDate")
    season = parts.get("Season")
    pd = PubDate(
        year,
        month_of(parts.get("Month")),
        day_of(parts.get("Day")),
        " ".join(season.split()) or None if season else None,
        " ".join(medline.split()) or None if medline else None,
    )
    return None if pd == _NO_DATE else pd


def authors(author_list: Any) -> tuple[list[str], list[AuthorDetail]]:
    """Display names ("LastName Initials", ForeName without Initials, or CollectiveName) and
    the aligned details; ValidYN="N" authors and authors without a name left out."""
    names: list[str] = []
    details: list[AuthorDetail] = []
    for au in author_list.iterchildren("Author"):
        if au.get("ValidYN") == "N":
            continue
        last = fore = initials = collective = ""
        affiliations: list[str] = []
        orcid = None
        for c in au:
            tag = c.tag
            if tag == "AffiliationInfo":
                affiliations.extend(t for t in map(text, c.iterchildren("Affiliation")) if t)
                continue
            if tag == "Identifier":
                if orcid is None and c.get("Source", "").upper() == "ORCID":
                    orcid = orcid_of(text(c))
                continue
            t = c.text  # the names: leaves, but for the odd inline markup
            t = text(c) if len(c) else " ".join(t.split()) if t else ""
            if tag == "LastName":
                last = t
            elif tag == "ForeName":
                fore = t
            elif tag == "Initials":
                initials = t
            elif tag == "CollectiveName":
                collective = t
        if last:
            given = initials or fore
            name = f"{last} {given}" if given else last
        else:
            name = collective or fore
        if name:
            names.append(name)
            details.append(
                AuthorDetail(last, fore, initials, collective, tuple(affiliations), orcid)
            )
    return names, details


def orcid_of(value: str) -> str | None:
    """The bare ORCID iD (``0000-0002-1825-0097``) of an Identifier's text (a URL or digits
    with or without hyphens); other text is kept as given, blank is None."""
    v = value.strip().rstrip("/")
    m = _ORCID.search(v)
    if m:
        return "-".join(m.groups()).upper()
    return v or None


def mesh_term(heading: Any) -> MeshTerm | None:
    desc = next(heading.iterchildren("DescriptorName"), None)
    if desc is None:
        return None
    name = text(desc)
    if not name:
        return None
    own = desc.get("MajorTopicYN") == "Y"
    quals = []
    any_major = False
    for q in heading.iterchildren("QualifierName"):
        qmajor = q.get("MajorTopicYN") == "Y"
        any_major = any_major or qmajor
        if qname := text(q):
            quals.append(MeshQualifier(qname, attr(q, "UI"), qmajor))
    return MeshTerm(name, attr(desc, "UI"), own or any_major, tuple(quals), own)
