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
from collections.abc import Iterator
from dataclasses import replace

from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    Section,
)

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


_C0_FORBIDDEN = bytes([*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20)])
_NOT_C0_FORBIDDEN = bytes(b for b in range(256) if b not in _C0_FORBIDDEN)


def drop_xml_controls(data: bytes) -> tuple[bytes, int]:
    """``data`` (XML bytes) without the C0 controls XML forbids, raw or as references.

    The regular expression runs only when the block holds a forbidden byte or a character
    reference: PubMed files have neither, and two C-speed scans (``translate`` deleting every
    other byte, a substring search) cost about a fifth of the expression's.
    """
    if b"&#" not in data and not data.translate(None, _NOT_C0_FORBIDDEN):
        return data, 0
    return _XML_CONTROLS.subn(b"", data)


_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def utf8_document(first: bytes) -> bool:
    """True when a document beginning with ``first`` is UTF-8 (no other encoding declared, no
    UTF-16 byte order mark): then :func:`may_hold_controls` can judge its bytes."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    m = _DECLARED.match(first[:512])
    return m is None or m.group(1).lower() in (b"utf-8", b"utf8")


def may_hold_controls(data: bytes) -> bool:
    """Whether UTF-8 XML bytes (after :func:`drop_xml_controls`) can decode to a control:
    DEL, a C1 code point, or a character reference (CR and others). False for PubMed files,
    whose records then need no :func:`clean_article` pass."""
    return b"\x7f" in data or b"&#" in data or _C1_UTF8.search(data) is not None


def _texts(a: Article) -> Iterator[str | None]:
    """Every text field of ``a`` (None for an absent optional one)."""
    yield from (a.title, a.journal, a.journal_iso, a.doi, a.vernacular_title, a.issn)
    yield from (a.issn_type, a.issn_linking, a.nlm_unique_id, a.volume, a.issue, a.pages)
    yield from (a.article_date, a.date_revised, a.publication_status, a.medline_status, a.pmc)
    yield from a.authors
    yield from a.publication_types
    yield from a.keywords
    yield from a.languages
    for s in a.sections:
        yield from (s.text, s.label, s.category)
    for m in a.mesh:
        yield from (m.name, m.ui)
        for q in m.qualifiers:
            yield from (q.name, q.ui)
    for d in a.author_details:
        yield from (d.last_name, d.fore_name, d.initials, d.collective, d.orcid)
        yield from d.affiliations
    for g in a.grants:
        yield from (g.grant_id, g.acronym, g.agency, g.country)
    for c in a.chemicals:
        yield from (c.name, c.ui, c.registry_number)
    for x in a.comments_corrections:
        yield from (x.ref_type, x.ref_source)
    if a.pub_date is not None:
        yield from (a.pub_date.season, a.pub_date.medline_date)


def has_controls(a: Article) -> bool:
    """Whether any text field of ``a`` holds a control (one scan over all of them)."""
    return CONTROLS.search("\n".join(t for t in _texts(a) if t)) is not None


def clean_article(a: Article) -> tuple[Article, int]:
    """``a`` with controls dropped from every text field, and how many were dropped.

    A part left without its required text (a section with neither text nor label, a MeSH
    term, chemical or qualifier without a name) is dropped with it. An article without any
    control is returned as it is after one scan (:func:`has_controls`).
    """
    if not has_controls(a):
        return a, 0
    dropped = 0

    def s(text: str) -> str:
        nonlocal dropped
        out, n = drop_controls(text)
        dropped += n
        return out

    def o(text: str | None) -> str | None:
        return None if text is None else s(text) or None

    def strs(items: list[str] | tuple[str, ...]) -> list[str]:
        return [t for t in map(s, items) if t]

    sections = [
        Section(t, label, o(x.category))
        for x in a.sections
        for t, label in ((s(x.text), o(x.label)),)
        if t or label
    ]
    mesh = [
        MeshTerm(
            n,
            o(m.ui),
            m.major,
            tuple(MeshQualifier(q, o(x.ui), x.major) for x in m.qualifiers if (q := s(x.name))),
            m.descriptor_major,
        )
        for m in a.mesh
        if (n := s(m.name))
    ]
    before = dropped
    names = [
        (s(d.last_name), s(d.fore_name), s(d.initials), s(d.collective)) for d in a.author_details
    ]
    in_names, before = dropped - before, dropped
    authors = [s(x) for x in a.authors]
    in_displays = dropped - before
    aligned = bool(names) and len(names) == len(authors)
    if aligned:  # the display names repeat the detail names: count what they hold once
        dropped -= min(in_names, in_displays)
    details = [
        AuthorDetail(*n, tuple(strs(d.affiliations)), o(d.orcid))
        for n, d in zip(names, a.author_details, strict=True)
    ]
    if aligned:  # keep them aligned
        details = [d for d, x in zip(details, authors, strict=True) if x]
    authors = [x for x in authors if x]
    pd = a.pub_date
    cleaned = replace(
        a,
        title=s(a.title),
        sections=sections,
        journal=s(a.journal),
        journal_iso=s(a.journal_iso),
        authors=authors,
        mesh=mesh,
        publication_types=strs(a.publication_types),
        keywords=strs(a.keywords),
        languages=strs(a.languages),
        doi=o(a.doi),
        vernacular_title=o(a.vernacular_title),
        author_details=details,
        issn=o(a.issn),
        issn_type=o(a.issn_type),
        issn_linking=o(a.issn_linking),
        nlm_unique_id=o(a.nlm_unique_id),
        volume=o(a.volume),
        issue=o(a.issue),
        pages=o(a.pages),
        pub_date=None if pd is None else replace(
            pd, season=o(pd.season), medline_date=o(pd.medline_date)
        ),
        article_date=o(a.article_date),
        date_revised=o(a.date_revised),
        publication_status=o(a.publication_status),
        medline_status=o(a.medline_status),
        grants=[Grant(o(g.grant_id), o(g.acronym), o(g.agency), o(g.country)) for g in a.grants],
        chemicals=[
            Chemical(n, o(c.ui), o(c.registry_number)) for c in a.chemicals if (n := s(c.name))
        ],
        pmc=o(a.pmc),
        comments_corrections=[
            CommentCorrection(t, c.pmid, s(c.ref_source))
            for c in a.comments_corrections
            if (t := s(c.ref_type))
        ],
    )  # fmt: skip
    return (cleaned, dropped) if dropped else (a, 0)
