"""RIS (``TY JOUR`` ... ``ER``): the tagged format reference managers import.

Tags written: TY, TI, AU (one per author), AD (each distinct affiliation), PY, DA
(``YYYY/MM/DD/``), JO (journal title), JA (ISO abbreviation), VL, IS, SP, EP, SN (ISSN),
LA, DO, AB, KW (MeSH headings with qualifiers, then keywords), C2 (PMCID), ID, AN, UR, ER.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from web.exports.fields import (
    Hit,
    abstract,
    affiliations,
    field,
    keywords,
    languages,
    mesh_headings,
    one_line,
    page_range,
    pmcid,
    pub_date,
)


def _line(tag: str, value: Any) -> str:
    return f"{tag}  - {one_line(value)}"


def _ris_date(hit: Hit) -> str:
    """RIS's ``YYYY/MM/DD/other`` (``2019/05//Spring``)."""
    pd = pub_date(hit)
    if pd is None or pd.year is None:
        return ""
    parts = [str(pd.year)]
    for value in (pd.month, pd.day):
        parts.append(f"{value:02d}" if value is not None else "")
    return "/".join(parts) + "/" + one_line(pd.season)


def to_ris(hits: Iterable[Hit]) -> str:
    """RIS records, CRLF line ends as the format asks; empty fields are left out."""
    lines: list[str] = []
    for hit in hits:
        first, last = page_range(field(hit, "pages"))
        tagged: list[tuple[str, Any]] = [("TY", "JOUR"), ("TI", hit.get("title"))]
        tagged += [("AU", a) for a in hit.get("authors") or []]
        tagged += [("AD", a) for a in affiliations(hit)]
        tagged += [("PY", hit.get("year")), ("DA", _ris_date(hit))]
        tagged += [("JO", hit.get("journal")), ("JA", field(hit, "journal_iso"))]
        tagged += [("VL", field(hit, "volume")), ("IS", field(hit, "issue"))]
        tagged += [("SP", first), ("EP", last), ("SN", field(hit, "issn"))]
        tagged += [("LA", x) for x in languages(hit)]
        tagged += [("DO", hit.get("doi")), ("AB", abstract(hit))]
        tagged += [("KW", k) for k in (*mesh_headings(hit), *keywords(hit))]
        tagged += [("C2", pmcid(hit)), ("ID", hit.get("pmid"))]
        tagged += [("AN", f"PMID:{hit.get('pmid')}"), ("UR", hit.get("url"))]
        lines += [_line(tag, value) for tag, value in tagged if one_line(value)]
        lines += ["ER  - ", ""]
    return "\r\n".join(lines)
