"""The stored form of an article: one compressed record, and the content hash over it.

Everything of an :class:`~indexer.records.Article` except ``pmid`` / ``version`` (real columns)
is written once, as compact JSON of a fixed-order array::

    [title, [[text, label, category], ...], journal, journal_iso, year, authors,
     [[name, ui, major, [[qualifier, ui, major], ...], descriptor_major], ...],
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
    """The fixed-order array of :data:`LAYOUT` (every part as a positional array)."""
    pd = a.pub_date
    return [
        a.title,
        [[s.text, s.label, s.category] for s in a.sections],
        a.journal,
        a.journal_iso,
        a.year,
        a.authors,
        [
            [m.name, m.ui, m.major, [[q.name, q.ui, q.major] for q in m.qualifiers],
             m.descriptor_major]
            for m in a.mesh
        ],
        a.publication_types,
        a.keywords,
        a.languages,
        a.doi,
        a.vernacular_title,
        a.abstract_source,
        _details(a.author_details),
        [a.issn, a.issn_type, a.issn_linking, a.nlm_unique_id],
        [a.volume, a.issue, a.pages],
        None if pd is None else [pd.year, pd.month, pd.day, pd.season, pd.medline_date],
        [a.article_date, a.date_revised, a.publication_status, a.medline_status, a.pmc],
        [[g.grant_id, g.acronym, g.agency, g.country] for g in a.grants],
        [[c.name, c.ui, c.registry_number] for c in a.chemicals],
        a.references,
        [[c.ref_type, c.pmid, c.ref_source] for c in a.comments_corrections],
    ]  # fmt: skip


def _details(details: list[AuthorDetail]) -> list:
    """``[[affiliation, ...], [[last, fore, initials, collective, [index, ...], orcid], ...]]``:
    each distinct affiliation once (co-authors usually share theirs), then the authors with
    indexes into that list."""
    index: dict[str, int] = {}
    rows = [
        [
            d.last_name, d.fore_name, d.initials, d.collective,
            [index.setdefault(x, len(index)) for x in d.affiliations], d.orcid,
        ]
        for d in details
    ]  # fmt: skip
    return [list(index), rows]


def _authors_of(stored: list) -> list[AuthorDetail]:
    affiliations, rows = stored
    return [
        AuthorDetail(last, fore, ini, coll, tuple(affiliations[i] for i in idx), orcid)
        for last, fore, ini, coll, idx, orcid in rows
    ]


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
        vernacular, abstract_source, details, (issn, issn_type, issn_linking, nlm_id),
        (volume, issue, pages), pd, (article_date, revised, pub_status, medline_status, pmc),
        grants, chemicals, references, comments,
    ) = json.loads(raw.decode("utf-8", "surrogatepass"))  # fmt: skip
    return Article(
        pmid=pmid,
        version=version,
        title=title,
        sections=[Section(*s) for s in sections],
        journal=journal,
        journal_iso=iso,
        year=year,
        authors=authors,
        mesh=[
            MeshTerm(n, ui, major, tuple(MeshQualifier(*q) for q in quals), dmajor)
            for n, ui, major, quals, dmajor in mesh
        ],
        publication_types=pubtypes,
        keywords=keywords,
        languages=langs,
        doi=doi,
        vernacular_title=vernacular,
        abstract_source=abstract_source,
        author_details=_authors_of(details),
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
