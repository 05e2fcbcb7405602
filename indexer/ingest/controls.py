"""Control characters in source text: what ingest drops, and how many it dropped.

A **control** is a C0 (U+0000-U+001F) or C1 (U+0080-U+009F) code point, or DEL (U+007F),
other than tab and newline. No article text needs one; a hostile record uses them to drive a
terminal (``ESC]0;...BEL`` retitles it, ``ESC[2J`` clears it) or to hide text in HTML and
exports. Both readers drop them from every text field of an Article (:func:`clean_article`),
and the PubMed XML reader also drops the C0 bytes and character references the XML parser
would reject (:func:`drop_xml_controls`; a raw NUL byte still fails the file as corrupt).
Each dropped character is counted in ``SourceStats.controls_dropped``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from indexer.records import Article, MeshTerm, Section

CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# C0 bytes XML 1.0 forbids (tab, LF and CR are allowed) and references to them (&#27; &#x1B;).
# A raw NUL byte is left for the parser to reject: zero-filled blocks are what a file damaged by
# a crash looks like, and such a file must fail, not be indexed as if whole (&#0; is dropped).
_XML_CONTROLS = re.compile(
    rb"[\x01-\x08\x0b\x0c\x0e-\x1f]"
    rb"|&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)


def drop_controls(text: str) -> tuple[str, int]:
    """``text`` without controls (whitespace re-normalised when any went), and how many."""
    out, n = CONTROLS.subn("", text)
    return (" ".join(out.split()), n) if n else (text, 0)


def drop_xml_controls(data: bytes) -> tuple[bytes, int]:
    """``data`` (XML bytes) without the C0 controls XML forbids, raw or as references."""
    return _XML_CONTROLS.subn(b"", data)


def clean_article(a: Article) -> tuple[Article, int]:
    """``a`` with controls dropped from every text field, and how many were dropped."""
    dropped = 0

    def s(text: str) -> str:
        nonlocal dropped
        out, n = drop_controls(text)
        dropped += n
        return out

    def o(text: str | None) -> str | None:
        return None if text is None else s(text) or None

    def strs(items: list[str]) -> list[str]:
        return [t for t in map(s, items) if t]

    sections = [Section(t, o(x.label), o(x.category)) for x in a.sections if (t := s(x.text))]
    mesh = [MeshTerm(n, o(m.ui), m.major) for m in a.mesh if (n := s(m.name))]
    cleaned = replace(
        a,
        title=s(a.title),
        sections=sections,
        journal=s(a.journal),
        journal_iso=s(a.journal_iso),
        authors=strs(a.authors),
        mesh=mesh,
        publication_types=strs(a.publication_types),
        keywords=strs(a.keywords),
        languages=strs(a.languages),
        doi=o(a.doi),
    )
    return (cleaned, dropped) if dropped else (a, 0)
