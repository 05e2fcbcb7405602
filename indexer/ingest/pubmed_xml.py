"""PubMed XML reader (baseline and update files, efetch output): safe, streaming lxml iterparse.

See :mod:`indexer.ingest.sources` for the behaviour and the safety settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from indexer.ingest.base import READ_ERRORS, SourceError, SourceStats, io_error, log, parse_pmid
from indexer.ingest.controls import clean_article
from indexer.ingest.prefilter import PrefilteredXML
from indexer.records import Article, Deletion, MeshTerm, Record, Section

_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_XML_TAGS = ("PubmedArticle", "DeleteCitation", "PubmedBookArticle")
_XML_ROOTS = frozenset({"PubmedArticleSet"})
_Entity = etree.Entity
_NAME_TAGS = ("LastName", "Initials", "ForeName", "CollectiveName")


def iter_xml(path: Path, opener: Callable[[], IO[bytes]], stats: SourceStats) -> Iterator[Record]:
    name = str(path)
    etree.clear_error_log()  # the log is per thread: keep only this file's errors in it
    try:
        with PrefilteredXML(opener()) as fh:
            events = etree.iterparse(
                fh,
                events=("end",),
                tag=_XML_TAGS,
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                dtd_validation=False,
                recover=False,
                remove_comments=True,
                remove_pis=True,
                collect_ids=False,
            )
            checked = False
            books = 0
            for _, elem in events:
                if not checked:
                    _check_root(path, elem.getroottree().getroot())
                    checked = True
                tag = elem.tag
                if tag == "PubmedArticle":
                    art = _article(elem, name, stats)
                    stats.controls_dropped += fh.take_dropped()
                    if art is not None:
                        art, dropped = clean_article(art)
                        stats.controls_dropped += dropped
                        stats.articles += 1
                        yield art
                elif tag == "DeleteCitation":
                    for pm in elem.iterchildren("PMID"):
                        pmid = parse_pmid(pm.text)
                        if pmid is None:
                            stats.skip(
                                name,
                                None,
                                f"DeleteCitation PMID {pm.text!r} (line {pm.sourceline})",
                            )
                        else:
                            stats.deletions += 1
                            yield Deletion(pmid)
                else:
                    books += 1
                    stats.skip(name, None, "PubmedBookArticle (books are not indexed)", warn=False)
                elem.clear(keep_tail=True)
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            if not checked:
                _check_root(path, events.root)
            if books:
                log.warning("%s: skipped %d PubmedBookArticle records", name, books)
    except etree.XMLSyntaxError as e:
        raise SourceError(path, f"XML error: {_xml_message(e)}") from e
    except READ_ERRORS as e:
        raise io_error(path, e) from e


def _xml_message(e: etree.XMLSyntaxError) -> str:
    """The parser's message; iterparse sometimes only says 'no element found', the log says why."""
    message = str(e)
    last = e.error_log.last_error
    if message.startswith("no element found") and last is not None:
        return f"{last.message.strip()} (line {last.line}, column {last.column})"
    return message


def _check_root(path: Path, root: Any) -> None:
    if root is None or root.tag not in _XML_ROOTS:
        tag = getattr(root, "tag", None)
        raise SourceError(
            path, f"not PubMed XML: root element <{tag}>, expected <PubmedArticleSet>"
        )


def _attr(el: Any, name: str) -> str | None:
    value = el.get(name)
    return " ".join(value.split()) or None if value else None


def _text(el: Any) -> str:
    """All text under ``el`` (inline markup kept as text), whitespace-normalised."""
    if el is None:
        return ""
    if len(el) == 0:
        return " ".join(el.text.split()) if el.text else ""
    for ent in list(el.iter(_Entity)):  # unresolved entity references: drop, keep their tails
        ent_parent = ent.getparent()
        prev = ent.getprevious()
        if ent.tail:
            if prev is not None:
                prev.tail = (prev.tail or "") + ent.tail
            else:
                ent_parent.text = (ent_parent.text or "") + ent.tail
        ent_parent.remove(ent)
    return " ".join("".join(el.itertext()).split())


def _article(elem: Any, name: str, stats: SourceStats) -> Article | None:
    mc = next(elem.iterchildren("MedlineCitation"), None)
    pm = next(mc.iterchildren("PMID"), None) if mc is not None else None
    pmid = parse_pmid(pm.text) if pm is not None else None
    if pmid is None:
        raw = pm.text if pm is not None else None
        stats.skip(name, None, f"no valid PMID ({raw!r}) in record at line {elem.sourceline}")
        return None
    version = parse_pmid(pm.get("Version") or "1")
    if version is None:
        stats.skip(name, pmid, f"invalid PMID Version {pm.get('Version')!r}")
        return None
    try:
        return _fill(Article(pmid=pmid, version=version), mc, elem)
    except Exception as e:  # a malformed record never stops the stream
        stats.skip(name, pmid, f"{type(e).__name__}: {e}")
        return None


def _fill(a: Article, mc: Any, elem: Any) -> Article:
    article = None
    for child in mc:
        tag = child.tag
        if tag == "Article":
            article = child
        elif tag == "MeshHeadingList":
            a.mesh = [m for m in map(_mesh, child.iterchildren("MeshHeading")) if m is not None]
        elif tag == "KeywordList":
            a.keywords.extend(k for k in map(_text, child.iterchildren("Keyword")) if k)
    doi = None
    if article is not None:
        article_date = None
        for child in article:
            tag = child.tag
            if tag == "Journal":
                _journal(a, child)
            elif tag == "ArticleTitle":
                a.title = _text(child)
            elif tag == "ELocationID":
                if doi is None and child.get("EIdType") == "doi" and child.get("ValidYN") != "N":
                    doi = _text(child) or None
            elif tag == "Abstract":
                a.sections = [
                    Section(t, _attr(s, "Label"), _attr(s, "NlmCategory"))
                    for s in child.iterchildren("AbstractText")
                    if (t := _text(s))
                ]
            elif tag == "AuthorList":
                a.authors = _authors(child)
            elif tag == "Language":
                if lang := _text(child):
                    a.languages.append(lang)
            elif tag == "PublicationTypeList":
                a.publication_types = [
                    t for t in map(_text, child.iterchildren("PublicationType")) if t
                ]
            elif tag == "ArticleDate" and article_date is None:
                article_date = _year(_child_text(child, "Year"))
        if a.year is None:
            a.year = article_date
    if doi is None:
        doi = _pubmed_data_doi(elem)
    a.doi = doi
    return a


def _child_text(el: Any, tag: str) -> str | None:
    child = next(el.iterchildren(tag), None)
    return None if child is None else child.text


def _pubmed_data_doi(elem: Any) -> str | None:
    """PubmedData/ArticleIdList/ArticleId[@IdType="doi"] (never a reference's ArticleIdList)."""
    for data in elem.iterchildren("PubmedData"):
        for ids in data.iterchildren("ArticleIdList"):
            for aid in ids.iterchildren("ArticleId"):
                if aid.get("IdType") == "doi" and (doi := _text(aid)):
                    return doi
    return None


def _year(text: str | None) -> int | None:
    if not text:
        return None
    if len(text) == 4 and text.isdigit() and text.isascii():
        return int(text)
    m = _YEAR.search(text)
    return int(m.group(1)) if m else None


def _journal(a: Article, journal: Any) -> None:
    for child in journal:
        tag = child.tag
        if tag == "Title":
            a.journal = _text(child)
        elif tag == "ISOAbbreviation":
            a.journal_iso = _text(child)
        elif tag == "JournalIssue":
            for pubdate in child.iterchildren("PubDate"):
                year = medline = None
                for part in pubdate.iterchildren("Year", "MedlineDate"):
                    if part.tag == "Year":
                        year = part.text
                    else:
                        medline = part.text
                a.year = _year(year) or _year(medline)


def _authors(author_list: Any) -> list[str]:
    """ "LastName Initials" (ForeName without Initials), or CollectiveName; ValidYN="N" left out.

    One filtered C-level walk over the name elements, grouped by their Author parent (cheaper
    than visiting every Author's children, which include long AffiliationInfo blocks).
    """
    out: list[str] = []
    author = None
    valid = False
    last = initials = fore = collective = ""
    for el in author_list.iter(_NAME_TAGS):
        parent = el.getparent()
        if parent is not author:
            if valid:
                _add_author(out, last, initials, fore, collective)
            author = parent
            valid = parent.tag == "Author" and parent.get("ValidYN") != "N"
            last = initials = fore = collective = ""
        text = el.text
        if len(el):
            text = _text(el)
        elif text:
            text = " ".join(text.split())
        tag = el.tag
        if tag == "LastName":
            last = text or ""
        elif tag == "Initials":
            initials = text or ""
        elif tag == "ForeName":
            fore = text or ""
        else:
            collective = text or ""
    if valid:
        _add_author(out, last, initials, fore, collective)
    return out


def _add_author(out: list[str], last: str, initials: str, fore: str, collective: str) -> None:
    if last:
        given = initials or fore
        out.append(f"{last} {given}" if given else last)
    elif collective or fore:
        out.append(collective or fore)


def _mesh(heading: Any) -> MeshTerm | None:
    desc = next(heading.iterchildren("DescriptorName"), None)
    if desc is None:
        return None
    name = _text(desc)
    if not name:
        return None
    major = desc.get("MajorTopicYN") == "Y" or any(
        q.get("MajorTopicYN") == "Y" for q in heading.iterchildren("QualifierName")
    )
    return MeshTerm(name, _attr(desc, "UI"), major)
