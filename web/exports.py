"""Exports of a page of results as RIS, BibTeX or CSV: pure functions over result dicts.

A result dict is what the JSON API returns in ``results`` (rank, pmid, score, title, journal,
year, authors, doi, mesh, snippet, highlights, url), optionally with ``abstract``: the full
abstract, exported instead of the snippet when present.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Hit = Mapping[str, Any]

CSV_COLUMNS = (
    "rank",
    "pmid",
    "score",
    "title",
    "authors",
    "journal",
    "year",
    "doi",
    "mesh",
    "url",
    "abstract",
)
LIST_SEPARATOR = "; "


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def _abstract(hit: Hit) -> str:
    return _one_line(hit.get("abstract") or hit.get("snippet") or "")


# RIS -------------------------------------------------------------------------------------


def _ris_line(tag: str, value: Any) -> str:
    return f"{tag}  - {_one_line(value)}"


def to_ris(hits: Iterable[Hit]) -> str:
    """RIS records (TY JOUR ... ER), CRLF line ends as the format asks; one AU per author."""
    lines: list[str] = []
    for hit in hits:
        lines.append(_ris_line("TY", "JOUR"))
        lines.append(_ris_line("TI", hit.get("title")))
        lines.extend(_ris_line("AU", a) for a in hit.get("authors") or [] if _one_line(a))
        if hit.get("year") is not None:
            lines.append(_ris_line("PY", hit["year"]))
        if _one_line(hit.get("journal")):
            lines.append(_ris_line("JO", hit.get("journal")))
        if _one_line(hit.get("doi")):
            lines.append(_ris_line("DO", hit.get("doi")))
        if _abstract(hit):
            lines.append(_ris_line("AB", _abstract(hit)))
        lines.extend(_ris_line("KW", m) for m in hit.get("mesh") or [] if _one_line(m))
        lines.append(_ris_line("ID", hit.get("pmid")))
        lines.append(_ris_line("AN", f"PMID:{hit.get('pmid')}"))
        lines.append(_ris_line("UR", hit.get("url")))
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


# BibTeX ----------------------------------------------------------------------------------

# Every brace in the output is structural, so field values are balanced by construction: a
# brace of the text is spelled as a command (``\textbraceleft{}``), never as ``\{``, which
# brace-counting parsers (BibTeX itself, pybtex, bibtexparser) still count.
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
    return _BIB_SPECIAL.sub(lambda m: _BIB_ESCAPES[m.group()], _one_line(text))


def bibtex_author(name: str) -> str:
    """PubMed's "Smith JA" as "Smith, J. A."; a collective name is braced so BibTeX keeps it
    whole."""
    parts = _one_line(name).split()
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
    first = _one_line(authors[0]).split() if authors else []
    surname = _ascii_word(first[0]).lower() if first else ""
    year = _ascii_word(str(hit.get("year") or ""))
    return f"{surname or 'anon'}{year}pmid{_ascii_word(str(hit.get('pmid')))}"


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
        fields: list[tuple[str, str]] = [("title", bibtex_escape(hit.get("title")))]
        authors = [bibtex_author(a) for a in hit.get("authors") or [] if _one_line(a)]
        if authors:
            fields.append(("author", " and ".join(authors)))
        for name in ("journal", "year", "doi"):
            if _one_line(hit.get(name)):
                fields.append((name, bibtex_escape(hit.get(name))))
        if _abstract(hit):
            fields.append(("abstract", bibtex_escape(_abstract(hit))))
        if hit.get("mesh"):
            fields.append(("keywords", bibtex_escape(", ".join(hit["mesh"]))))
        fields.append(("pmid", bibtex_escape(hit.get("pmid"))))
        fields.append(("url", bibtex_escape(hit.get("url"))))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@article{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


# CSV -------------------------------------------------------------------------------------


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
    return _PIECE_FORMULA.sub(r"\1\2'", _one_line(value))


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


def to_csv(hits: Iterable[Hit]) -> str:
    """A header row and one row per hit (CRLF line ends); lists joined with ``"; "``; text
    cells defused (``csv_cell``) and quoted when they hold ``, ; tab "``."""
    rows = [_csv_row(CSV_COLUMNS)]
    for hit in hits:
        rows.append(
            _csv_row(
                [
                    hit.get("rank"),
                    hit.get("pmid"),
                    hit.get("score"),
                    hit.get("title"),
                    LIST_SEPARATOR.join(hit.get("authors") or []),
                    hit.get("journal"),
                    hit.get("year"),
                    hit.get("doi"),
                    LIST_SEPARATOR.join(hit.get("mesh") or []),
                    hit.get("url"),
                    _abstract(hit),
                ]
            )
        )
    return "".join(rows)


# Formats ---------------------------------------------------------------------------------

EXPORTS: dict[str, tuple[str, str, Callable[[Sequence[Hit]], str]]] = {
    "ris": ("application/x-research-info-systems", "ris", to_ris),
    "bibtex": ("application/x-bibtex", "bib", to_bibtex),
    "csv": ("text/csv; charset=utf-8", "csv", to_csv),
}


def slug(text: str, limit: int = 50) -> str:
    """A file-name-safe ASCII slug of ``text`` ("results" when nothing is left)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", folded)
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "results")


def export(fmt: str, hits: Sequence[Hit], name: str) -> tuple[str, str, str]:
    """``(body, content_type, filename)`` of ``hits`` in ``fmt`` ("ris", "bibtex", "csv")."""
    content_type, ext, render = EXPORTS[fmt]
    return render(hits), content_type, f"pubmed-search-{slug(name)}.{ext}"
