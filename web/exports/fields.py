"""What every export format reads from a result: one line of text, the full record's parts.

An export item is a result dict as the JSON API returns it (rank, pmid, score, title,
journal, year, authors, doi, mesh, snippet, url), and, when the page was exported through the
API, ``record``: the article's full stored record (``Article.to_dict()``: volume, issue,
pages, ISSN, PMC id, dates, author details, MeSH qualifiers, ...). Every format falls back to
the result's own fields when there is no ``record``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from indexer.records import Article, PubDate
from indexer.records.parts import MONTHS
from search.citation import date_text, source

Hit = Mapping[str, Any]

_PAGES = re.compile(r"\s*([A-Za-z]*)(\d+)\s*[-\u2013]\s*([A-Za-z]*)(\d+)\s*$")


def one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def record(hit: Hit) -> Mapping[str, Any]:
    """The full stored record of ``hit`` (empty when the page carries none)."""
    rec = hit.get("record")
    return rec if isinstance(rec, Mapping) else {}


def field(hit: Hit, name: str) -> str:
    """A text field of the record (or of the hit), on one line; "" when absent."""
    rec = record(hit)
    return one_line(rec.get(name) if name in rec else hit.get(name))


def abstract(hit: Hit) -> str:
    """The full abstract when known, else the snippet."""
    rec = record(hit)
    return one_line(rec.get("abstract") or hit.get("abstract") or hit.get("snippet") or "")


def page_range(pages: str) -> tuple[str, str]:
    """(first, last) page of MedlinePgn text: ``"123-9"`` -> ``("123", "129")`` (MEDLINE
    abbreviates the last page), ``"e1234"`` -> ``("e1234", "")``; only the first range of a
    list such as ``"12-4, 18"`` counts."""
    first_part = one_line(pages).split(",")[0].split(";")[0]
    m = _PAGES.match(first_part)
    if not m:
        return first_part.strip(), ""
    prefix, start, end_prefix, end = m.groups()
    if len(end) < len(start):
        end = start[: len(start) - len(end)] + end
    return prefix + start, (end_prefix or prefix) + end


def pub_date(hit: Hit) -> PubDate | None:
    """The record's PubDate; only the year when the page carries no record."""
    pd = record(hit).get("pub_date")
    if isinstance(pd, Mapping):
        return PubDate(**pd)
    year = hit.get("year")
    return PubDate(year=year) if isinstance(year, int) else None


def iso_date(hit: Hit) -> str:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` of the publication date, as far as known."""
    pd = pub_date(hit)
    return (pd.iso() if pd is not None else None) or one_line(hit.get("year"))


def month_abbrev(hit: Hit) -> str:
    """The publication month as ``May`` ("" when not known)."""
    pd = pub_date(hit)
    return MONTHS[pd.month - 1].title() if pd is not None and pd.month else ""


def medline_date(hit: Hit) -> str:
    """The date as MEDLINE writes it (``DP``): ``2019 May 3``, ``2019 Spring``, the
    MedlineDate text, or the year."""
    return date_text(pub_date(hit), hit.get("year") if isinstance(hit.get("year"), int) else None)


def citation_source(hit: Hit) -> str:
    """``J Iso. 2019 May;12(3):123-9. doi: 10.1/x.`` as MEDLINE's SO field."""
    rec = record(hit)
    a = Article.from_dict({"pmid": hit.get("pmid") or 1, **rec}) if rec else None
    journal = one_line(rec.get("journal_iso")) or one_line(hit.get("journal"))
    where = source(a) if a is not None else (f"{hit['year']}." if hit.get("year") else "")
    out = " ".join(p for p in (f"{journal}." if journal else "", where) if p)
    if hit.get("doi"):
        out += f" doi: {one_line(hit['doi'])}."
    return out.strip()


def author_details(hit: Hit) -> list[Mapping[str, Any]]:
    """One details dict per author (aligned with ``authors``), or [] when not known."""
    details = record(hit).get("author_details") or []
    authors = hit.get("authors") or []
    return list(details) if len(details) == len(authors) else []


def affiliations(hit: Hit) -> list[str]:
    """Every distinct affiliation of the authors, in order of first appearance."""
    seen: dict[str, None] = {}
    for detail in author_details(hit):
        for aff in detail.get("affiliations") or []:
            if one_line(aff):
                seen.setdefault(one_line(aff))
    return list(seen)


def mesh_headings(hit: Hit) -> list[str]:
    """MeSH headings as MEDLINE writes them: ``*Asthma`` (major descriptor),
    ``Asthma/*drug therapy`` (major qualifier), ``Humans``; the bare names when the record is
    not known."""
    terms = record(hit).get("mesh")
    if not terms:
        return [one_line(m) for m in hit.get("mesh") or [] if one_line(m)]
    out = []
    for term in terms:
        qualifiers = term.get("qualifiers") or []
        own = term.get("descriptor_major")
        if own is None:
            own = bool(term.get("major")) and not any(q.get("major") for q in qualifiers)
        name = ("*" if own else "") + one_line(term.get("name"))
        if not qualifiers:
            out.append(name)
        for q in qualifiers:
            out.append(f"{name}/{'*' if q.get('major') else ''}{one_line(q.get('name'))}")
    return out


def pmcid(hit: Hit) -> str:
    return one_line(record(hit).get("pmc"))


def languages(hit: Hit) -> list[str]:
    return [one_line(x) for x in record(hit).get("languages") or [] if one_line(x)]


def keywords(hit: Hit) -> list[str]:
    return [one_line(x) for x in record(hit).get("keywords") or [] if one_line(x)]
