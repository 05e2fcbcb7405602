"""CSV for spreadsheets: one row per result, defused against formula injection in every locale.

Columns (:data:`CSV_COLUMNS`): rank, pmid, score, title, authors, affiliations, journal,
journal_iso, year, date (ISO, as far as known), volume, issue, pages, issn, doi, pmcid,
mesh (headings with qualifiers, ``*`` for major topics), url, abstract; lists joined with
:data:`LIST_SEPARATOR`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from web.exports.fields import (
    Hit,
    abstract,
    affiliations,
    field,
    iso_date,
    mesh_headings,
    one_line,
    pmcid,
)

CSV_COLUMNS = (
    "rank",
    "pmid",
    "score",
    "title",
    "authors",
    "affiliations",
    "journal",
    "journal_iso",
    "year",
    "date",
    "volume",
    "issue",
    "pages",
    "issn",
    "doi",
    "pmcid",
    "mesh",
    "url",
    "abstract",
)
LIST_SEPARATOR = "; "

# A piece of a cell that a spreadsheet may read as a cell of its own: the cell's start, or the
# text after any separator a locale may split on (``,`` ``;`` tab), past spaces and quotes; a
# ``'`` goes before it when it starts with a formula trigger (``= + - @``) or with ``'``.
_PIECE_FORMULA = re.compile(r"""(^|[,;\t])([ "]*)(?=[=+\-@'])""")
_CSV_QUOTE_IF = frozenset(',;\t"\r\n')


def csv_cell(value: Any) -> str:
    """Text for a spreadsheet cell, defused against CSV injection in every locale.

    The text is put on one line (tabs, CRs and newlines become spaces); then every piece that
    a split on ``,``, ``;`` or tab would start (the cell's start, and the text after each such
    separator, past spaces and ``"``) gets a ``'`` in front when it starts with ``= + - @``,
    so no piece can be read as a formula (OWASP); a piece starting with ``'`` gets one too,
    so one ``'`` at each piece start can always be stripped back."""
    return _PIECE_FORMULA.sub(r"\1\2'", one_line(value))


def _csv_field(value: Any) -> str:
    """One field of a row: a number as itself, text defused by ``csv_cell`` and quoted
    (``"`` doubled) when it holds a separator any locale may split on or a quote."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = csv_cell(value)
    if _CSV_QUOTE_IF.intersection(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_row(values: Iterable[Any]) -> str:
    return ",".join(_csv_field(v) for v in values) + "\r\n"


def _values(hit: Hit) -> dict[str, Any]:
    return {
        "rank": hit.get("rank"),
        "pmid": hit.get("pmid"),
        "score": hit.get("score"),
        "title": hit.get("title"),
        "authors": LIST_SEPARATOR.join(hit.get("authors") or []),
        "affiliations": LIST_SEPARATOR.join(affiliations(hit)),
        "journal": hit.get("journal"),
        "journal_iso": field(hit, "journal_iso"),
        "year": hit.get("year"),
        "date": iso_date(hit),
        "volume": field(hit, "volume"),
        "issue": field(hit, "issue"),
        "pages": field(hit, "pages"),
        "issn": field(hit, "issn"),
        "doi": hit.get("doi"),
        "pmcid": pmcid(hit),
        "mesh": LIST_SEPARATOR.join(mesh_headings(hit)),
        "url": hit.get("url"),
        "abstract": abstract(hit),
    }


def to_csv(hits: Iterable[Hit]) -> str:
    """A header row and one row per hit (CRLF line ends); text cells defused (``csv_cell``)
    and quoted when they hold ``, ; tab "``."""
    rows = [_csv_row(CSV_COLUMNS)]
    for hit in hits:
        values = _values(hit)
        rows.append(_csv_row(values[c] for c in CSV_COLUMNS))
    return "".join(rows)
