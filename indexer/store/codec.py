"""The stored form of an article: one compressed record, and the content hash over it.

Everything of an :class:`~indexer.records.Article` except ``pmid`` / ``version`` (real columns)
is written once, as compact JSON of a fixed-order array::

    [title, [[text, label, category], ...], journal, journal_iso, year, authors,
     [[name, ui, flags, qualifier, ...], ...] (flags: major + 2 * descriptor_major's index in
     (False, True, None); a qualifier: 2 * its code in :mod:`.qualifiers` + major, or
     [name, ui, major] when it has none),
     publication_types, keywords, languages, doi, vernacular_title, abstract_source,
     [[affiliation, ...], [[last, fore, initials, collective, [index, ...], orcid], ...]],
     [issn, issn_type, issn_linking, nlm_unique_id], [volume, issue, pages],
     [year, month, day, season, medline_date] | null,
     [article_date, date_revised, publication_status, medline_status, pmc],
     [[grant_id, acronym, agency, country], ...], [[name, ui, registry_number], ...],
     [pmid, ...], [[ref_type, pmid, ref_source], ...]]

(the abstract is not stored: ``Article.abstract`` derives it from the sections), UTF-8,
compressed with raw DEFLATE (level 6) primed with :data:`ZDICT`, a preset dictionary of
strings common in PubMed records. The content hash is the first 16 bytes of sha256 over
``"pmid:version:"`` + that JSON: JSON is an injective encoding of the fields, so equal hashes
<=> equal ``Article.to_dict()``. Changing the layout or :data:`ZDICT` changes the stored
format: bump ``schema.SCHEMA_VERSION``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from functools import lru_cache

from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from indexer.store.qualifiers import CODES, QUALIFIERS

HASH_BYTES = 16
LEVEL = 6
_WBITS = -15  # raw DEFLATE: no zlib header / checksum (6 bytes a row; SQLite checks pages)

_COMMON = (
    "Journal Article", "Review", "Case Reports", "Letter", "Editorial", "Comment",
    "Comparative Study", "English Abstract", "Clinical Trial", "Randomized Controlled Trial",
    "Meta-Analysis", "Systematic Review", "Published Erratum", "Historical Article",
    "Research Support, Non-U.S. Gov't", "Research Support, U.S. Gov't, P.H.S.",
    "Research Support, U.S. Gov't, Non-P.H.S.", "Research Support, N.I.H., Extramural",
    "Humans", "Animals", "Female", "Male", "Adult", "Middle Aged", "Aged", "Aged, 80 and over",
    "Adolescent", "Young Adult", "Child", "Child, Preschool", "Infant", "Infant, Newborn",
    "Pregnancy", "Rats", "Mice", "Time Factors", "Retrospective Studies", "Prospective Studies",
    "Treatment Outcome", "Risk Factors", "Kinetics", "United States",
    "BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS", "CONCLUSION", "OBJECTIVE", "OBJECTIVES",
    "PURPOSE", "INTRODUCTION", "UNASSIGNED", "MATERIALS AND METHODS", "DESIGN", "AIM",
    "eng", "ger", "fre", "rus", "jpn", "10.1016/j.", "10.1007/s", "10.3390/",
    "ppublish", "epublish", "aheadofprint", "MEDLINE", "PubMed-not-MEDLINE", "In-Process",
    "Print", "Electronic", "abstract", "United States", "NIH HHS", "England", "Wellcome Trust",
)  # fmt: skip
ZDICT = (
    ",".join(json.dumps(s) for s in _COMMON)
    + ',null,null],["'
    + '",false],["'
    + '",true],["'
    + '"eng"]'
).encode()
"""DEFLATE preset dictionary (~1 KB): publication types, MeSH check tags, section labels,
languages and the JSON punctuation between fields. Measured against plain DEFLATE (level 6)
on the sample files: records 7.2% smaller on pubmed20n0014 (14.4 vs 15.6 MB), 4.4% on
pubmed21n1298 (17.4 vs 18.2 MB), for ~6-9 us more CPU a record."""

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _fields(a: Article) -> list:
    """The array of :data:`LAYOUT`: every part positional, trailing defaults left out."""
    pd = a.pub_date
    return _trim(
        [
            a.title,
            [[s.text, s.label, s.category] for s in a.sections],
            a.journal,
            a.journal_iso,
            a.year,
            None if a.author_details and a.authors == _displays(a.author_details) else a.authors,
            [
                [m.name, _ui(m.ui), m.major + 2 * _OWN.index(m.descriptor_major),
                 *map(_qualifier, m.qualifiers)]
                for m in a.mesh
            ],
            a.publication_types,
            a.keywords,
            a.languages,
            a.doi,
            a.vernacular_title,
            a.abstract_source,
            _details(a.author_details),
            _trim([a.issn, a.issn_type, a.issn_linking, a.nlm_unique_id]),
            _trim([a.volume, a.issue, a.pages]),
            None if pd is None else [pd.year, pd.month, pd.day, pd.season, pd.medline_date],
            _trim([a.article_date, a.date_revised, a.publication_status, a.medline_status, a.pmc]),
            [[g.grant_id, g.acronym, g.agency, g.country] for g in a.grants],
            [[c.name, c.ui, c.registry_number] for c in a.chemicals],
            a.references,
            [[c.ref_type, c.pmid, c.ref_source] for c in a.comments_corrections],
        ],
        _TOP,
    )  # fmt: skip


_TOP = (
    *([None] * 11), None, "abstract", [[], []], [], [], None, [], [], [], [], [],
)  # fmt: skip
"""What a field left out at the end of the layout stands for (the first 11 fields, never
None but for ``doi`` and ``year``, are in every record of layout 2 and 3 alike)."""
_DETAIL = ("", "", "", "", [], None)


def _trim(row: list, defaults: tuple | None = None) -> list:
    """``row`` without its trailing entries equal to their ``defaults`` (None for each)."""
    n = len(row)
    while n and row[n - 1] == (None if defaults is None else defaults[n - 1]):
        n -= 1
    return row[:n]


def _pad(row: list, defaults: tuple | int) -> list:
    """Inverse of :func:`_trim` (``defaults`` an int: that many Nones)."""
    if isinstance(defaults, int):
        return row + [None] * (defaults - len(row))
    return row + list(defaults[len(row) :])


def _displays(details: list[AuthorDetail]) -> list[str]:
    """The display names the XML reader makes of ``details`` (stored: null when equal)."""
    out = []
    for d in details:
        given = d.initials or d.fore_name
        out.append(
            (f"{d.last_name} {given}" if given else d.last_name)
            if d.last_name
            else d.collective or d.fore_name
        )
    return out


@lru_cache(maxsize=1 << 16)  # MeSH has ~30,000 descriptors
def _ui(ui: str | None) -> str | int | None:
    """A descriptor UI ``D`` + 6 digits as that number, ``D`` + 9 digits as ``~number``."""
    if ui and ui[0] == "D" and len(ui) in (7, 10) and ui[1:].isdigit() and ui.isascii():
        return int(ui[1:]) if len(ui) == 7 else ~int(ui[1:])
    return ui


@lru_cache(maxsize=1 << 16)
def _ui_of(stored: str | int | None) -> str | None:
    if isinstance(stored, int):
        return f"D{stored:06d}" if stored >= 0 else f"D{~stored:09d}"
    return stored


_OWN = (False, True, None)
"""MeshTerm.descriptor_major as stored: ``flags = major + 2 * _OWN.index(descriptor_major)``."""


def _qualifier(q: MeshQualifier) -> int | list:
    code = CODES.get((q.name, q.ui))
    return [q.name, q.ui, q.major] if code is None else 2 * code + q.major


_CODED = tuple(MeshQualifier(n, ui, major) for n, ui in QUALIFIERS for major in (False, True))
"""The qualifier stored as code ``i`` is ``_CODED[i]`` (immutable: shared by every record)."""


def _qualifier_of(stored: int | list) -> MeshQualifier:
    return MeshQualifier(*stored) if isinstance(stored, list) else _CODED[stored]


def _details(details: list[AuthorDetail]) -> list:
    """``[[affiliation, ...], [[last, fore, initials, collective, [index, ...], orcid], ...]]``:
    each distinct affiliation once (co-authors usually share theirs), then the authors with
    indexes into that list (trailing defaults left out)."""
    index: dict[str, int] = {}
    rows = [
        _trim(
            [
                d.last_name, d.fore_name, d.initials, d.collective,
                [index.setdefault(x, len(index)) for x in d.affiliations], d.orcid,
            ],
            _DETAIL,
        )
        for d in details
    ]  # fmt: skip
    return [list(index), rows]


def _authors_of(stored: list) -> list[AuthorDetail]:
    affiliations, rows = stored
    out = []
    for row in rows:
        last, fore, ini, coll, idx, orcid = _pad(row, _DETAIL)
        out.append(AuthorDetail(last, fore, ini, coll, tuple(affiliations[i] for i in idx), orcid))
    return out


def encode(a: Article) -> tuple[bytes, bytes]:
    """(content hash, uncompressed record) of ``a``; :func:`compress` the record to store it."""
    record = _json(_fields(a)).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(f"{a.pmid}:{a.version}:".encode())
    digest.update(record)
    return digest.digest()[:HASH_BYTES], record


def content_hash(a: Article) -> bytes:
    """The hash :meth:`Store.apply` compares: equal <=> equal ``Article.to_dict()``."""
    return encode(a)[0]


def compress(record: bytes) -> bytes:
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, _WBITS, zdict=ZDICT)
    return c.compress(record) + c.flush()


def decode(pmid: int, version: int, data: bytes) -> Article:
    """The article stored as ``data`` (a :func:`compress`-ed record) for ``pmid`` / ``version``."""
    d = zlib.decompressobj(_WBITS, zdict=ZDICT)
    raw = d.decompress(data) + d.flush()
    (
        title, sections, journal, iso, year, authors, mesh, pubtypes, keywords, langs, doi,
        vernacular, abstract_source, details, journal_ids, vip, pd, dates,
        grants, chemicals, references, comments,
    ) = _pad(json.loads(raw.decode("utf-8", "surrogatepass")), _TOP)  # fmt: skip
    issn, issn_type, issn_linking, nlm_id = _pad(journal_ids, 4)
    volume, issue, pages = _pad(vip, 3)
    article_date, revised, pub_status, medline_status, pmc = _pad(dates, 5)
    author_details = _authors_of(details)
    return Article(
        pmid=pmid,
        version=version,
        title=title,
        sections=[Section(*s) for s in sections],
        journal=journal,
        journal_iso=iso,
        year=year,
        authors=_displays(author_details) if authors is None else authors,
        mesh=[
            MeshTerm(
                n, _ui_of(ui), bool(flags & 1), tuple(map(_qualifier_of, quals)), _OWN[flags >> 1]
            )
            for n, ui, flags, *quals in mesh
        ],
        publication_types=pubtypes,
        keywords=keywords,
        languages=langs,
        doi=doi,
        vernacular_title=vernacular,
        abstract_source=abstract_source,
        author_details=author_details,
        issn=issn,
        issn_type=issn_type,
        issn_linking=issn_linking,
        nlm_unique_id=nlm_id,
        volume=volume,
        issue=issue,
        pages=pages,
        pub_date=None if pd is None else PubDate(*pd),
        article_date=article_date,
        date_revised=revised,
        publication_status=pub_status,
        medline_status=medline_status,
        grants=[Grant(*g) for g in grants],
        chemicals=[Chemical(*c) for c in chemicals],
        pmc=pmc,
        references=references,
        comments_corrections=[CommentCorrection(*c) for c in comments],
    )
