"""Streaming readers of PubMed as people get it: PubMed XML and JSONL, plain or gzipped.

``iter_records(path, stats)`` yields :class:`Article` and :class:`Deletion` records in file order
(a newer Version of a PMID later in the same file is yielded after the older one; the store
resolves). Dispatch is on the file name: ``.xml``/``.xml.gz`` (PubmedArticleSet: baseline and
update files, efetch output) and ``.jsonl``/``.jsonl.gz``.

Errors. A malformed record (no valid positive integer PMID, a bad JSONL line) is skipped,
counted in :class:`SourceStats` and logged as a warning naming the file and the PMID or
position; it never stops the stream. ``PubmedBookArticle`` records are skipped and counted too.
A corrupt file (truncated gzip, XML syntax error, bytes the XML parser rejects as invalid
UTF-8, a text node over libxml2's 10,000,000-byte limit) raises :class:`SourceError` naming the
file *after* the records before the fault were yielded: the caller (the build) stops with that
error; it does not guess what the rest of the file held.

XML safety: lxml ``iterparse`` with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False, dtd_validation=False`` (no entity expansion, no external entity or DTD read
from disk or network; the real files' https DTD is never fetched). References to entities
are dropped from the text. Records and their preceding siblings are cleared as the parse
goes, so memory stays bounded by one record.

Field choices: ``MeshTerm.major`` is True when the descriptor *or any of its qualifiers* has
MajorTopicYN="Y" (what PubMed's [majr] search matches). Authors with ValidYN="N" are left out,
as PubMed does. The year is JournalIssue/PubDate/Year, else the first 4-digit year of
MedlineDate, else ArticleDate/Year.

JSONL: one object per line with ``pmid`` (int or digit string, required) and optional
``title``, ``abstract``, ``sections`` ([{label, text, category}]: they win over ``abstract``),
``mesh`` (names, or {name, ui, major}), ``year``, ``journal``, ``journal_iso``, ``authors``,
``doi``, ``publication_types``, ``keywords``, ``language``, ``version``. A line
``{"delete": PMID}`` or ``{"pmid": PMID, "deleted": true}`` is a Deletion. Blank lines (and a
UTF-8 byte order mark) are ignored; invalid JSON, a missing/invalid pmid or a field of the
wrong type skips the line (counted, and warned with its line number).
Text is whitespace-normalised in both formats.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from indexer.records import Article, Deletion, MeshTerm, Record, Section

log = logging.getLogger(__name__)

MAX_SKIPPED_EXAMPLES = 50
MAX_JSONL_LINE = 64 * 1024 * 1024
_MAX_ID = 2**63 - 1
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_XML_TAGS = ("PubmedArticle", "DeleteCitation", "PubmedBookArticle")
_XML_ROOTS = frozenset({"PubmedArticleSet"})
_Entity = etree.Entity
_NAME_TAGS = ("LastName", "Initials", "ForeName", "CollectiveName")


class SourceError(RuntimeError):
    """A file that cannot be read to its end (truncated, corrupt, unknown type)."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{path}: {message}")


@dataclass
class SourceStats:
    """What a reader saw: records yielded and records skipped (with a few examples)."""

    articles: int = 0
    deletions: int = 0
    skipped: int = 0
    skipped_examples: list[tuple[str, int | None, str]] = field(default_factory=list)

    def skip(self, path: str, pmid: int | None, reason: str, warn: bool = True) -> None:
        self.skipped += 1
        if len(self.skipped_examples) < MAX_SKIPPED_EXAMPLES:
            self.skipped_examples.append((path, pmid, reason))
        if warn:
            log.warning("%s: skipped record (PMID %s): %s", path, pmid or "?", reason)


def _kind(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    for ext in ("xml", "jsonl"):
        if base.endswith("." + ext):
            return ext, gz
    raise SourceError(path, "unknown file type: expected .xml, .xml.gz, .jsonl or .jsonl.gz")


def iter_records(path: str | Path, stats: SourceStats | None = None) -> Iterator[Record]:
    """Articles and deletions of one file, in file order (see the module docstring)."""
    path = Path(path)
    kind, gz = _kind(path)
    if not path.is_file():
        raise SourceError(path, "no such file")
    stats = stats if stats is not None else SourceStats()

    def opener() -> IO[bytes]:
        return gzip.open(path, "rb") if gz else open(path, "rb")

    reader = _iter_xml if kind == "xml" else _iter_jsonl
    return reader(path, opener, stats)


def iter_many(paths: Iterable[str | Path], stats: SourceStats | None = None) -> Iterator[Record]:
    """Records of several files, one after the other (one shared ``stats``)."""
    stats = stats if stats is not None else SourceStats()
    for p in paths:
        yield from iter_records(p, stats)


def _io_error(path: Path, e: BaseException) -> SourceError:
    if isinstance(e, EOFError):
        return SourceError(path, f"truncated compressed file ({e})")
    return SourceError(path, f"cannot read: {type(e).__name__}: {e}")


_READ_ERRORS = (OSError, EOFError, zlib.error)


# --------------------------------------------------------------------------- PubMed XML


def _iter_xml(path: Path, opener: Callable[[], IO[bytes]], stats: SourceStats) -> Iterator[Record]:
    name = str(path)
    etree.clear_error_log()  # the log is per thread: keep only this file's errors in it
    try:
        with opener() as fh:
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
                    if art is not None:
                        stats.articles += 1
                        yield art
                elif tag == "DeleteCitation":
                    for pm in elem.iterchildren("PMID"):
                        pmid = _pmid(pm.text)
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
    except _READ_ERRORS as e:
        raise _io_error(path, e) from e


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


def _pmid(text: str | None) -> int | None:
    if not text:
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ID else None


def _norm(text: str) -> str:
    return " ".join(text.split())


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
    pmid = _pmid(pm.text) if pm is not None else None
    if pmid is None:
        raw = pm.text if pm is not None else None
        stats.skip(name, None, f"no valid PMID ({raw!r}) in record at line {elem.sourceline}")
        return None
    version = _pmid(pm.get("Version") or "1")
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
                if not a.language:
                    a.language = _text(child)
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


# --------------------------------------------------------------------------- JSONL


class _BadLine(ValueError):
    pass


def _iter_jsonl(
    path: Path, opener: Callable[[], IO[bytes]], stats: SourceStats
) -> Iterator[Record]:
    name = str(path)
    try:
        with opener() as fh:
            lineno = 0
            while True:
                raw = fh.readline(MAX_JSONL_LINE + 1)
                if not raw:
                    break
                lineno += 1
                where = f"line {lineno}"
                if len(raw) > MAX_JSONL_LINE and not raw.endswith(b"\n"):
                    while (more := fh.readline(MAX_JSONL_LINE)) and not more.endswith(b"\n"):
                        pass
                    stats.skip(name, None, f"{where}: longer than {MAX_JSONL_LINE} bytes")
                    continue
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                    raw = raw[3:]
                if not raw.strip():
                    continue
                pmid = None
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise _BadLine(f"not a JSON object ({type(obj).__name__})")
                    pmid = obj.get("pmid")
                    rec = _json_record(obj)
                except (ValueError, TypeError, RecursionError) as e:
                    pid = pmid if isinstance(pmid, int) else None
                    stats.skip(name, pid, f"{where}: {e}")
                    continue
                if isinstance(rec, Deletion):
                    stats.deletions += 1
                else:
                    stats.articles += 1
                yield rec
    except _READ_ERRORS as e:
        raise _io_error(path, e) from e


def _json_id(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _BadLine(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        if 0 < value <= _MAX_ID:
            return value
    elif isinstance(value, str) and (v := _pmid(value)) is not None:
        return v
    raise _BadLine(f"{what} must be a positive integer, got {value!r}"[:200])


def _json_str(obj: dict, key: str) -> str:
    v = obj.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _BadLine(f"{key} must be a string")
    return _norm(v)


def _json_strs(obj: dict, key: str) -> list[str]:
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _BadLine(f"{key} must be a list of strings")
    return [t for t in map(_norm, v) if t]


def _json_opt(d: dict, key: str, what: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _BadLine(f"{what} must be a string")
    return _norm(v) or None


def _json_sections(obj: dict) -> list[Section]:
    secs = obj.get("sections")
    if secs:
        if not isinstance(secs, list) or not all(isinstance(s, dict) for s in secs):
            raise _BadLine("sections must be a list of {label, text} objects")
        out = []
        for s in secs:
            text = s.get("text")
            if not isinstance(text, str):
                raise _BadLine("section text must be a string")
            text = _norm(text)
            if text:
                label = _json_opt(s, "label", "section label")
                out.append(Section(text, label, _json_opt(s, "category", "section category")))
        return out
    abstract = _json_str(obj, "abstract")
    return [Section(abstract)] if abstract else []


def _json_mesh(obj: dict) -> list[MeshTerm]:
    items = obj.get("mesh")
    if items is None:
        return []
    if not isinstance(items, list):
        raise _BadLine("mesh must be a list")
    out = []
    for m in items:
        if isinstance(m, str):
            if _norm(m):
                out.append(MeshTerm(_norm(m)))
        elif isinstance(m, dict) and isinstance(m.get("name"), str):
            major = m.get("major", False)
            if not isinstance(major, bool):
                raise _BadLine("mesh major must be true or false")
            if _norm(m["name"]):
                out.append(MeshTerm(_norm(m["name"]), _json_opt(m, "ui", "mesh ui"), major))
        else:
            raise _BadLine("mesh items must be names or {name, ui, major} objects")
    return out


def _json_year(obj: dict) -> int | None:
    y = obj.get("year")
    if y is None or y == "":
        return None
    if isinstance(y, str) and y.strip().isascii() and y.strip().isdigit():
        y = int(y.strip())
    if isinstance(y, bool) or not isinstance(y, int) or not 0 < y < 10000:
        raise _BadLine(f"year must be an integer from 1 to 9999, got {y!r}"[:200])
    return y


def _json_record(obj: dict) -> Record:
    if "delete" in obj:
        return Deletion(_json_id(obj["delete"], "delete"))
    if "pmid" not in obj:
        raise _BadLine("no pmid")
    pmid = _json_id(obj["pmid"], "pmid")
    deleted = obj.get("deleted", False)
    if deleted is True:
        return Deletion(pmid)
    if deleted is not False:
        raise _BadLine("deleted must be true or false")
    version = obj.get("version")
    return Article(
        pmid=pmid,
        version=1 if version is None else _json_id(version, "version"),
        title=_json_str(obj, "title"),
        sections=_json_sections(obj),
        journal=_json_str(obj, "journal"),
        journal_iso=_json_str(obj, "journal_iso"),
        year=_json_year(obj),
        authors=_json_strs(obj, "authors"),
        mesh=_json_mesh(obj),
        publication_types=_json_strs(obj, "publication_types"),
        keywords=_json_strs(obj, "keywords"),
        language=_json_str(obj, "language"),
        doi=_json_opt(obj, "doi", "doi"),
    )
