"""PubMed's MEDLINE (``.nbib``) tagged format, what PubMed's "Save > PubMed format" writes and
Zotero, EndNote, Mendeley and Biopython's ``Bio.Medline`` read.

Each line is a tag padded to four characters, ``- `` and a value; a long text value goes on
continuation lines that start with six spaces; records are separated by a blank line. Values
are put on one line first, so no text of a record can start a line of its own.

Tags: PMID, STAT, LR (DateRevised), IS (with ``(Print)``/``(Electronic)``/``(Linking)``), VI,
IP, DP, TI, PG, LID (DOI), AB, per author FAU/AU (or CN for a collective), AD and AUID, LA,
GR, PT, DEP (ArticleDate), TA, JT, JID, RN, MH, OT, the CommentsCorrections links (CON, CIN,
EIN, EFR, RIN, ROF, ... as PubMed tags them), PMC, AID, PST, SO (the citation).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from web.exports.fields import (
    Hit,
    abstract,
    author_details,
    citation_source,
    keywords,
    languages,
    medline_date,
    mesh_headings,
    one_line,
    pmcid,
    record,
)

WIDTH = 88
"""Longest line; longer text values continue on lines indented by six spaces."""
_WRAPPED = frozenset({"TI", "AB", "AD", "SO", "JT", "MH", "DP", "IS"})
"""Tags whose values may wrap (the ones MEDLINE readers join back into one value)."""

LINKS = {
    "CommentOn": "CON",
    "CommentIn": "CIN",
    "ErratumIn": "EIN",
    "ErratumFor": "EFR",
    "CorrectedandRepublishedIn": "CRI",
    "CorrectedandRepublishedFrom": "CRF",
    "PartialRetractionIn": "PRIN",
    "PartialRetractionOf": "PROF",
    "RepublishedIn": "RPI",
    "RepublishedFrom": "RPF",
    "RetractionIn": "RIN",
    "RetractionOf": "ROF",
    "UpdateIn": "UIN",
    "UpdateOf": "UOF",
    "SummaryForPatientsIn": "SPIN",
    "OriginalReportIn": "ORI",
    "ExpressionOfConcernIn": "ECI",
    "ExpressionOfConcernFor": "ECF",
}
"""CommentsCorrections RefType -> MEDLINE tag (``Cites``, the references, has none)."""


def _lines(tag: str, value: Any) -> list[str]:
    text = one_line(value)
    if not text:
        return []
    head = f"{tag:<4}- "
    if tag not in _WRAPPED or len(head) + len(text) <= WIDTH:
        return [head + text]
    parts = textwrap.wrap(text, WIDTH - len(head), break_long_words=False, break_on_hyphens=False)
    return [head + parts[0], *("      " + p for p in parts[1:])]


def _compact_date(iso: Any) -> str:
    """``2019-05-03`` -> ``20190503`` (MEDLINE's LR / DEP form)."""
    return one_line(iso).replace("-", "")


def _issns(rec: Mapping[str, Any]) -> Iterator[str]:
    if rec.get("issn"):
        kind = one_line(rec.get("issn_type")) or "Print"
        yield f"{one_line(rec['issn'])} ({kind})"
    if rec.get("issn_linking"):
        yield f"{one_line(rec['issn_linking'])} (Linking)"


def _authors(hit: Hit) -> Iterator[tuple[str, str]]:
    details = author_details(hit)
    for i, name in enumerate(hit.get("authors") or []):
        d = details[i] if details else {}
        if d.get("collective"):
            yield "CN", d["collective"]
        else:
            full = ", ".join(p for p in (d.get("last_name"), d.get("fore_name")) if p)
            yield "FAU", full or name
            yield "AU", name
        for aff in d.get("affiliations") or []:
            yield "AD", aff
        if d.get("orcid"):
            yield "AUID", f"ORCID: {d['orcid']}"


def _grant(g: Mapping[str, Any]) -> str:
    return "/".join(one_line(g.get(k)) for k in ("grant_id", "acronym", "agency", "country"))


def _chemical(c: Mapping[str, Any]) -> str:
    number = one_line(c.get("registry_number")) or "0"
    return f"{number} ({one_line(c.get('name'))})"


def _link(c: Mapping[str, Any]) -> str:
    pmid = f" PMID: {c['pmid']}" if c.get("pmid") else ""
    return one_line(f"{one_line(c.get('ref_source'))}{pmid}")


def _tagged(hit: Hit) -> Iterator[tuple[str, Any]]:
    rec = record(hit)
    yield "PMID", hit.get("pmid")
    yield "STAT", rec.get("medline_status")
    yield "LR", _compact_date(rec.get("date_revised"))
    yield from (("IS", x) for x in _issns(rec))
    yield "VI", rec.get("volume")
    yield "IP", rec.get("issue")
    yield "DP", medline_date(hit)
    yield "TI", hit.get("title")
    yield "PG", rec.get("pages")
    if hit.get("doi"):
        yield "LID", f"{one_line(hit['doi'])} [doi]"
    yield "AB", abstract(hit)
    yield from _authors(hit)
    yield from (("LA", x) for x in languages(hit))
    yield from (("GR", _grant(g)) for g in rec.get("grants") or [])
    yield from (("PT", x) for x in rec.get("publication_types") or [])
    yield "DEP", _compact_date(rec.get("article_date"))
    yield "TA", rec.get("journal_iso")
    yield "JT", hit.get("journal")
    yield "JID", rec.get("nlm_unique_id")
    yield from (("RN", _chemical(c)) for c in rec.get("chemicals") or [])
    yield from (("MH", m) for m in mesh_headings(hit))
    yield from (("OT", k) for k in keywords(hit))
    for c in rec.get("comments_corrections") or []:
        if c.get("ref_type") in LINKS:
            yield LINKS[c["ref_type"]], _link(c)
    yield "PMC", pmcid(hit)
    if hit.get("doi"):
        yield "AID", f"{one_line(hit['doi'])} [doi]"
    yield "PST", rec.get("publication_status")
    yield "SO", citation_source(hit)


def to_medline(hits: Iterable[Hit]) -> str:
    """MEDLINE records separated by blank lines (LF line ends, as PubMed writes them)."""
    records = []
    for hit in hits:
        lines = [line for tag, value in _tagged(hit) for line in _lines(tag, value)]
        records.append("\n".join(lines) + "\n")
    return "\n".join(records)
