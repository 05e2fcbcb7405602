"""PubMed XML reader (baseline and update files, efetch output): safe, streaming lxml iterparse.

See :mod:`indexer.ingest.sources` for the behaviour and the safety settings, and
:mod:`indexer.ingest.pubmed_fields` for the fields of one record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from indexer.ingest.base import READ_ERRORS, SourceError, SourceStats, io_error, log, parse_pmid
from indexer.ingest.controls import clean_article
from indexer.ingest.prefilter import PrefilteredXML
from indexer.ingest.pubmed_fields import fill
from indexer.records import Article, Deletion, Record

_XML_TAGS = ("PubmedArticle", "DeleteCitation", "PubmedBookArticle")
_XML_ROOTS = frozenset({"PubmedArticleSet"})


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
                        if fh.controls_possible:  # else no text of it can hold a control
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
        return fill(Article(pmid=pmid, version=version), mc, elem)
    except Exception as e:  # a malformed record never stops the stream
        stats.skip(name, pmid, f"{type(e).__name__}: {e}")
        return None
