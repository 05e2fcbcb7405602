"""BibTeX ``@article`` entries whose braces are balanced by construction.

Every brace in the output is structural, so field values are balanced by construction: a
brace of the text is spelled as a command (``\\textbraceleft{}``), never as ``\\{``, which
brace-counting parsers (BibTeX itself, pybtex, bibtexparser) still count.

Fields: title, author, journal, year, month, date (biblatex ``YYYY-MM-DD`` as far as known),
volume, number (issue), pages (``123--129``), issn, doi, pmcid, affiliation (distinct
affiliations joined by ``; ``), language, abstract, keywords (MeSH headings with qualifiers,
then keywords), pmid, url.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from web.exports.fields import (
    Hit,
    abstract,
    affiliations,
    field,
    iso_date,
    keywords,
    languages,
    mesh_headings,
    month_abbrev,
    one_line,
    page_range,
    pmcid,
)

_BIB_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "@": "{@}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIB_SPECIAL = re.compile("[" + re.escape("".join(_BIB_ESCAPES)) + "]")
_INITIALS = re.compile(r"[A-Z]{1,4}")
_NAME_SPLITTERS = re.compile(r",|\band\b", re.IGNORECASE)


def bibtex_escape(text: Any) -> str:
    r"""Text safe inside a braced BibTeX field, on one line.

    ``\ { }`` become ``\textbackslash{} \textbraceleft{} \textbraceright{}`` (so the only
    braces are the ones the escapes add, in pairs), ``@`` becomes ``{@}`` (no ``@type`` or
    ``@type(`` can appear in a value), ``$ & % # _`` get a backslash, ``^ ~`` become
    ``\^{} \~{}``; runs of whitespace (newlines included) become one space."""
    return _BIB_SPECIAL.sub(lambda m: _BIB_ESCAPES[m.group()], one_line(text))


def bibtex_author(name: str) -> str:
    """PubMed's "Smith JA" as "Smith, J. A."; a collective name is braced so BibTeX keeps it
    whole."""
    parts = one_line(name).split()
    if len(parts) >= 2 and _INITIALS.fullmatch(parts[-1]):
        initials = " ".join(f"{c}." for c in parts[-1])
        surname = bibtex_escape(" ".join(parts[:-1]))
        if _NAME_SPLITTERS.search(surname):  # a comma or "and" would split the name
            surname = "{" + surname + "}"
        return f"{surname}, {initials}"
    return "{" + bibtex_escape(name) + "}"


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", folded)


def bibtex_key(hit: Hit) -> str:
    """``<surname><year>pmid<PMID>``: readable, and unique because PMIDs are; ASCII letters
    and digits only, so a key cannot end the entry's head or open a field."""
    authors = hit.get("authors") or []
    first = one_line(authors[0]).split() if authors else []
    surname = _ascii_word(first[0]).lower() if first else ""
    year = _ascii_word(str(hit.get("year") or ""))
    return f"{surname or 'anon'}{year}pmid{_ascii_word(str(hit.get('pmid')))}"


def _pages(hit: Hit) -> str:
    first, last = page_range(field(hit, "pages"))
    return f"{first}--{last}" if last else first


def _fields(hit: Hit) -> list[tuple[str, str]]:
    """(name, raw text) of every field the entry gets, before escaping."""
    authors = [bibtex_author(a) for a in hit.get("authors") or [] if one_line(a)]
    has_month = bool(month_abbrev(hit))
    raw: list[tuple[str, Any]] = [
        ("journal", hit.get("journal")),
        ("year", hit.get("year")),
        ("month", month_abbrev(hit)),
        ("date", iso_date(hit) if has_month else ""),
        ("volume", field(hit, "volume")),
        ("number", field(hit, "issue")),
        ("pages", _pages(hit)),
        ("issn", field(hit, "issn")),
        ("doi", hit.get("doi")),
        ("pmcid", pmcid(hit)),
        ("affiliation", "; ".join(affiliations(hit))),
        ("language", ", ".join(languages(hit))),
        ("abstract", abstract(hit)),
        ("keywords", ", ".join((*mesh_headings(hit), *keywords(hit)))),
        ("pmid", hit.get("pmid")),
        ("url", hit.get("url")),
    ]
    out = [("title", bibtex_escape(hit.get("title")))]
    if authors:
        out.append(("author", " and ".join(authors)))
    out += [(name, bibtex_escape(value)) for name, value in raw if one_line(value)]
    return out


def to_bibtex(hits: Iterable[Hit]) -> str:
    """``@article`` entries with unique keys and escaped, braced fields."""
    entries: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        key = base = bibtex_key(hit)
        n = 1
        while key in seen:  # only if a page ever held one PMID twice
            n += 1
            key = f"{base}-{n}"
        seen.add(key)
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in _fields(hit))
        entries.append(f"@article{{{key},\n{body}\n}}\n")
    return "\n".join(entries)
