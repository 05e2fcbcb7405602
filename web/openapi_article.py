"""The OpenAPI schema of ``GET /api/articles/<pmid>``: the whole record
(``Article.to_dict()``, the complete citation of issue 17) with its links and display strings
(``web.service.article_dict``)."""

from __future__ import annotations

from typing import Any

from web.openapi_graph import ARTICLE_ONLY, CITATION, STANDING

_STR = {"type": "string"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_STR_LIST = {"type": "array", "items": _STR}
_BOOL = {"type": "boolean"}


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
        "additionalProperties": False,
    }


ARTICLE_SCHEMA: dict[str, Any] = _obj(
    {
        "ok": {"const": True},
        "pmid": {"type": "integer", "minimum": 1},
        "version": {"type": "integer"},
        "title": _STR,
        "sections": {
            "type": "array",
            "items": _obj({"label": _NULL_STR, "category": _NULL_STR, "text": _STR}),
            "description": "AbstractText blocks; text is empty for a label-only block.",
        },
        "abstract": _STR,
        "abstract_source": {
            "enum": ["abstract", "other_abstract"],
            "description": "other_abstract: an English OtherAbstract, the record having no "
            "Abstract.",
        },
        "journal": _STR,
        "journal_iso": _STR,
        "year": _NULL_INT,
        "authors": _STR_LIST,
        "author_details": {
            "type": "array",
            "description": "Empty, or one entry per author (aligned with authors).",
            "items": _obj(
                {
                    "last_name": _STR,
                    "fore_name": _STR,
                    "initials": _STR,
                    "collective": _STR,
                    "affiliations": _STR_LIST,
                    "orcid": _NULL_STR,
                    "orcid_url": _NULL_STR,
                }
            ),
        },
        "mesh": {
            "type": "array",
            "items": _obj(
                {
                    "name": _STR,
                    "ui": _NULL_STR,
                    "major": {
                        "type": "boolean",
                        "description": "The descriptor or one of its qualifiers is a major "
                        "topic (what [majr] searches).",
                    },
                    "descriptor_major": {"type": ["boolean", "null"]},
                    "qualifiers": {
                        "type": "array",
                        "items": _obj({"name": _STR, "ui": _NULL_STR, "major": _BOOL}),
                    },
                }
            ),
        },
        "publication_types": _STR_LIST,
        "keywords": _STR_LIST,
        "languages": _STR_LIST,
        "doi": _NULL_STR,
        "vernacular_title": _NULL_STR,
        "issn": _NULL_STR,
        "issn_type": _NULL_STR,
        "issn_linking": _NULL_STR,
        "nlm_unique_id": _NULL_STR,
        "volume": _NULL_STR,
        "issue": _NULL_STR,
        "pages": _NULL_STR,
        "pub_date": {
            "anyOf": [
                {"type": "null"},
                _obj(
                    {
                        "year": _NULL_INT,
                        "month": {"type": ["integer", "null"], "minimum": 1, "maximum": 12},
                        "day": {"type": ["integer", "null"], "minimum": 1, "maximum": 31},
                        "season": _NULL_STR,
                        "medline_date": _NULL_STR,
                    }
                ),
            ]
        },
        "date": {**_NULL_STR, "description": "The publication date as PubMed shows it."},
        "source": {**_NULL_STR, "description": "volume(issue):pages."},
        "article_date": {**_NULL_STR, "description": "ArticleDate, YYYY[-MM[-DD]]."},
        "date_revised": {**_NULL_STR, "description": "DateRevised, YYYY[-MM[-DD]]."},
        "publication_status": {
            **_NULL_STR,
            "description": "ppublish, epublish or aheadofprint.",
        },
        "medline_status": _NULL_STR,
        "grants": {
            "type": "array",
            "items": _obj(
                {
                    "grant_id": _NULL_STR,
                    "acronym": _NULL_STR,
                    "agency": _NULL_STR,
                    "country": _NULL_STR,
                }
            ),
        },
        "chemicals": {
            "type": "array",
            "items": _obj({"name": _STR, "ui": _NULL_STR, "registry_number": _NULL_STR}),
        },
        "pmc": _NULL_STR,
        "references": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1},
            "description": "PMIDs the article cites (ReferenceList).",
        },
        "comments_corrections": {
            "type": "array",
            "items": _obj(
                {"ref_type": _STR, "pmid": {"type": ["integer", "null"]}, "ref_source": _STR}
            ),
        },
        "url": {**_STR, "format": "uri"},
        "doi_url": _NULL_STR,
        "pmc_url": _NULL_STR,
        "citation": CITATION,
        **STANDING,
        **ARTICLE_ONLY,
    }
)
