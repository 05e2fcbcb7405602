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
file *after* the records before the fault were yielded; the reader does not guess what the
rest of the file held. The build keeps those records, names the file in its summary and goes
on with the next file (``build --strict``: it stops with the error).

XML safety: lxml ``iterparse`` with ``resolve_entities=False, no_network=True, load_dtd=False,
huge_tree=False, dtd_validation=False`` (no entity expansion, no external entity or DTD read
from disk or network; the real files' https DTD is never fetched). References to entities
are dropped from the text. Records and their preceding siblings are cleared as the parse
goes, so memory stays bounded by one record. Before lxml, :mod:`indexer.ingest.prefilter` drops
the ``History`` blocks nothing reads and rewrites each ``ReferenceList`` as its cited PMIDs
(together a third of a modern file's bytes); gzip is read with ISA-L (``isal``) when it is
installed, 2.7x cheaper than ``gzip``. Field choices: :mod:`indexer.ingest.pubmed_fields`.

JSONL: one object per line with ``pmid`` (int or digit string, required) and optional fields
named as in ``Article.to_dict()``: ``title``, ``abstract``, ``sections`` ([{label, text,
category}]: they win over ``abstract``; a label without text is kept), ``mesh`` (names, or
{name, ui, major, qualifiers: [{name, ui, major}], descriptor_major}), ``year``, ``journal``,
``journal_iso``, ``authors``, ``author_details`` (one {last_name, fore_name, initials,
collective, affiliations, orcid} per author), ``doi``, ``publication_types``, ``keywords``,
``languages`` (a list; the older ``language`` string is read too), ``version``,
``vernacular_title``, ``abstract_source``, ``issn``, ``issn_type``, ``issn_linking``,
``nlm_unique_id``, ``volume``, ``issue``, ``pages``, ``pub_date`` ({year, month, day, season,
medline_date}), ``article_date`` / ``date_revised`` (ISO dates), ``publication_status``,
``medline_status``, ``grants``, ``chemicals``, ``pmc``, ``references`` (PMIDs) and
``comments_corrections`` ([{ref_type, pmid, ref_source}]). A line ``{"delete": PMID}`` or
``{"pmid": PMID, "deleted": true}`` is a Deletion. Blank lines (and a UTF-8 byte order mark)
are ignored; invalid JSON, a missing/invalid pmid or a field of the wrong type skips the line
(counted, and warned with its line number and the field).
Text is whitespace-normalised in both formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from indexer.ingest.base import SourceError, SourceStats, gzip_open
from indexer.ingest.jsonl import iter_jsonl
from indexer.ingest.pubmed_xml import iter_xml
from indexer.records import Record

__all__ = ["SourceError", "SourceStats", "iter_many", "iter_records"]


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
        return gzip_open(path) if gz else open(path, "rb")

    reader = iter_xml if kind == "xml" else iter_jsonl
    return reader(path, opener, stats)


def iter_many(paths: Iterable[str | Path], stats: SourceStats | None = None) -> Iterator[Record]:
    """Records of several files, one after the other (one shared ``stats``)."""
    stats = stats if stats is not None else SourceStats()
    for p in paths:
        yield from iter_records(p, stats)
