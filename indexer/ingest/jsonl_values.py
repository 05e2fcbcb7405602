"""Values of a JSONL record: each field checked and normalised, or a :class:`BadLine` naming it.

The fields are those of ``Article.to_dict()`` (see :mod:`indexer.ingest.sources`); a value of
the wrong type skips the line with a message naming the field.
"""

from __future__ import annotations

import re
from typing import Any

from indexer.ingest.base import MAX_ID, parse_pmid
from indexer.records import (
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from indexer.records.article import ABSTRACT_SOURCES

_ISO_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")


class BadLine(ValueError):
    """A JSONL line that is not a valid record (the message names the field)."""


def norm(text: str) -> str:
    return " ".join(text.split())


def json_id(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise BadLine(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        if 0 < value <= MAX_ID:
            return value
    elif isinstance(value, str) and (v := parse_pmid(value)) is not None:
        return v
    raise BadLine(f"{what} must be a positive integer, got {value!r}"[:200])


def json_str(obj: dict, key: str) -> str:
    v = obj.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadLine(f"{key} must be a string")
    return norm(v)


def json_strs(obj: dict, key: str) -> list[str]:
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise BadLine(f"{key} must be a list of strings")
    return [t for t in map(norm, v) if t]


def json_opt(d: dict, key: str, what: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadLine(f"{what} must be a string")
    return norm(v) or None


def json_sections(obj: dict) -> list[Section]:
    secs = obj.get("sections")
    if secs:
        if not isinstance(secs, list) or not all(isinstance(s, dict) for s in secs):
            raise BadLine("sections must be a list of {label, text} objects")
        out = []
        for s in secs:
            text = s.get("text")
            if not isinstance(text, str):
                raise BadLine("section text must be a string")
            text = norm(text)
            label = json_opt(s, "label", "section label")
            if text or label:  # a label-only section is kept
                out.append(Section(text, label, json_opt(s, "category", "section category")))
        return out
    abstract = json_str(obj, "abstract")
    return [Section(abstract)] if abstract else []


def _bool(d: dict, key: str, what: str, default: bool | None = False) -> bool | None:
    v = d.get(key, default)
    if v is None and default is None:
        return None
    if not isinstance(v, bool):
        raise BadLine(f"{what} must be true or false")
    return v


def _objects(obj: dict, key: str, shape: str) -> list[dict]:
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise BadLine(f"{key} must be a list of {shape} objects")
    return v


def json_mesh(obj: dict) -> list[MeshTerm]:
    items = obj.get("mesh")
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadLine("mesh must be a list")
    out = []
    for m in items:
        if isinstance(m, str):
            if norm(m):
                out.append(MeshTerm(norm(m)))
        elif isinstance(m, dict) and isinstance(m.get("name"), str):
            major = _bool(m, "major", "mesh major")
            own = _bool(m, "descriptor_major", "mesh descriptor_major", None)
            quals = tuple(_qualifiers(m))
            if norm(m["name"]):
                major = bool(major or own or any(q.major for q in quals))  # what [majr] needs
                ui = json_opt(m, "ui", "mesh ui")
                out.append(MeshTerm(norm(m["name"]), ui, major, quals, own))
        else:
            raise BadLine("mesh items must be names or {name, ui, major} objects")
    return out


def _qualifiers(m: dict) -> list[MeshQualifier]:
    out = []
    for q in _objects(m, "qualifiers", "{name, ui, major}"):
        name = _name(q, "mesh qualifier name")
        qmajor = bool(_bool(q, "major", "mesh qualifier major"))
        if name:
            out.append(MeshQualifier(name, json_opt(q, "ui", "mesh qualifier ui"), qmajor))
    return out


def _name(d: dict, what: str) -> str:
    v = d.get("name")
    if not isinstance(v, str):
        raise BadLine(f"{what} must be a string")
    return norm(v)


def _iso(obj: dict, key: str) -> str | None:
    v = json_opt(obj, key, key)
    if v is not None and not _ISO_DATE.fullmatch(v):
        raise BadLine(f"{key} must be an ISO date (YYYY, YYYY-MM or YYYY-MM-DD), got {v!r}"[:200])
    return v


def _int_in(d: dict, key: str, lo: int, hi: int, what: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadLine(f"{what} must be an integer from {lo} to {hi}, got {v!r}"[:200])
    return v


def json_pub_date(obj: dict) -> PubDate | None:
    d = obj.get("pub_date")
    if d is None:
        return None
    if not isinstance(d, dict):
        raise BadLine("pub_date must be an object {year, month, day, season, medline_date}")
    pd = PubDate(
        _int_in(d, "year", 1, 9999, "pub_date year"),
        _int_in(d, "month", 1, 12, "pub_date month"),
        _int_in(d, "day", 1, 31, "pub_date day"),
        json_opt(d, "season", "pub_date season"),
        json_opt(d, "medline_date", "pub_date medline_date"),
    )
    return None if pd == PubDate() else pd


def json_author_details(obj: dict, n_authors: int) -> list[AuthorDetail]:
    out = []
    for d in _objects(obj, "author_details", "{last_name, fore_name, initials, ...}"):
        affs = d.get("affiliations")
        if affs is not None and (
            not isinstance(affs, list) or not all(isinstance(x, str) for x in affs)
        ):
            raise BadLine("author_details affiliations must be a list of strings")
        out.append(
            AuthorDetail(
                json_str(d, "last_name"), json_str(d, "fore_name"), json_str(d, "initials"),
                json_str(d, "collective"), tuple(t for t in map(norm, affs or ()) if t),
                json_opt(d, "orcid", "author_details orcid"),
            )
        )  # fmt: skip
    if out and len(out) != n_authors:
        raise BadLine(
            f"author_details must have one entry per author ({n_authors}), got {len(out)}"
        )
    return out


def json_grants(obj: dict) -> list[Grant]:
    out = []
    for g in _objects(obj, "grants", "{grant_id, acronym, agency, country}"):
        keys = ("grant_id", "acronym", "agency", "country")
        grant = Grant(*(json_opt(g, k, f"grant {k}") for k in keys))
        if grant != Grant():
            out.append(grant)
    return out


def json_chemicals(obj: dict) -> list[Chemical]:
    out = []
    for c in _objects(obj, "chemicals", "{name, ui, registry_number}"):
        name = _name(c, "chemical name")
        if name:
            ui = json_opt(c, "ui", "chemical ui")
            out.append(
                Chemical(name, ui, json_opt(c, "registry_number", "chemical registry_number"))
            )
    return out


def json_references(obj: dict) -> list[int]:
    v = obj.get("references")
    if v is None:
        return []
    if not isinstance(v, list):
        raise BadLine("references must be a list of PMIDs")
    return list(dict.fromkeys(json_id(p, "references PMID") for p in v))


def json_comments(obj: dict) -> list[CommentCorrection]:
    out = []
    for c in _objects(obj, "comments_corrections", "{ref_type, pmid, ref_source}"):
        ref_type = json_opt(c, "ref_type", "comments_corrections ref_type")
        if ref_type is None:
            raise BadLine("comments_corrections ref_type must be a non-empty string")
        pmid = c.get("pmid")
        pmid = None if pmid is None else json_id(pmid, "comments_corrections pmid")
        out.append(CommentCorrection(ref_type, pmid, json_str(c, "ref_source")))
    return out


def json_languages(obj: dict) -> list[str]:
    """``languages`` (a list of codes), or the older single ``language`` string (commas
    separate codes in it, as the lexical index always read it)."""
    if "languages" in obj:
        return json_strs(obj, "languages")
    return [t for t in map(norm, json_str(obj, "language").split(",")) if t]


def json_year(obj: dict) -> int | None:
    y = obj.get("year")
    if y is None or y == "":
        return None
    if isinstance(y, str) and y.strip().isascii() and y.strip().isdigit():
        y = int(y.strip())
    if isinstance(y, bool) or not isinstance(y, int) or not 0 < y < 10000:
        raise BadLine(f"year must be an integer from 1 to 9999, got {y!r}"[:200])
    return y


def json_abstract_source(obj: dict) -> str:
    v = obj.get("abstract_source")
    if v is None:
        return "abstract"
    if v not in ABSTRACT_SOURCES:
        raise BadLine(
            f"abstract_source must be one of {', '.join(ABSTRACT_SOURCES)}, got {v!r}"[:200]
        )
    return v


def fields(obj: dict) -> dict[str, Any]:
    """Every Article field but ``pmid`` / ``version``, from a JSONL object."""
    authors = json_strs(obj, "authors")
    opt = {k: json_opt(obj, k, k) for k in _OPTIONAL}
    return dict(
        title=json_str(obj, "title"),
        sections=json_sections(obj),
        journal=json_str(obj, "journal"),
        journal_iso=json_str(obj, "journal_iso"),
        year=json_year(obj),
        authors=authors,
        mesh=json_mesh(obj),
        publication_types=json_strs(obj, "publication_types"),
        keywords=json_strs(obj, "keywords"),
        languages=json_languages(obj),
        abstract_source=json_abstract_source(obj),
        author_details=json_author_details(obj, len(authors)),
        pub_date=json_pub_date(obj),
        article_date=_iso(obj, "article_date"),
        date_revised=_iso(obj, "date_revised"),
        grants=json_grants(obj),
        chemicals=json_chemicals(obj),
        references=json_references(obj),
        comments_corrections=json_comments(obj),
        **opt,
    )


_OPTIONAL = (
    "doi", "vernacular_title", "issn", "issn_type", "issn_linking", "nlm_unique_id", "volume",
    "issue", "pages", "publication_status", "medline_status", "pmc",
)  # fmt: skip
