"""The OpenAPI 3.1 description of the API, served at /api/openapi.json.

Schemas are JSON Schema 2020-12 (as OpenAPI 3.1 specifies), so tests validate real responses
against them with ``jsonschema``. Limits come from ``web.params``, the one place that
enforces them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from web.exports import EXPORTS
from web.params import (
    DEFAULT_K,
    FORMATS,
    MAX_DEPTH,
    MAX_EF_SEARCH,
    MAX_FILTER_CHARS,
    MAX_K,
    MAX_NPROBE,
    MAX_PAGE,
    MAX_QUERY_CHARS,
    MODES,
    YEAR_MAX,
    YEAR_MIN,
)

REF = "#/components/schemas/"
_STR = {"type": "string"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_STR_LIST = {"type": "array", "items": _STR}


def _param(name: str, schema: dict, description: str, where: str = "query") -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def _obj(properties: dict[str, Any], extra: bool = False) -> dict:
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
        "additionalProperties": extra,
    }


PAGE_PARAMS = [
    _param(
        "k",
        {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K},
        "Results per page.",
    ),
    _param(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        f"1-based page number; page * k may not exceed {MAX_DEPTH}.",
    ),
    _param(
        "format",
        {"type": "string", "enum": list(FORMATS), "default": "json"},
        "json, or export the page as RIS, BibTeX or CSV (an attachment).",
    ),
    _param(
        "year_from",
        {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
        "Earliest publication year (inclusive).",
    ),
    _param(
        "year_to",
        {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
        "Latest publication year (inclusive); not before year_from.",
    ),
    _param(
        "journal",
        {"type": "string", "maxLength": MAX_FILTER_CHARS},
        "Journal title or ISO abbreviation (case-insensitive exact match).",
    ),
    _param(
        "mesh",
        {"type": "string", "maxLength": MAX_FILTER_CHARS},
        "MeSH descriptor name or UI (e.g. D001249).",
    ),
    _param(
        "pubtype",
        {"type": "string", "maxLength": MAX_FILTER_CHARS},
        "Publication type, e.g. Review.",
    ),
    _param(
        "has_abstract",
        {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
        "Only articles with (true) or without (false) an abstract.",
    ),
    _param(
        "nprobe",
        {"type": "integer", "minimum": 1, "maximum": MAX_NPROBE},
        "IVF indexes: inverted lists probed for this request (more: better recall, slower; "
        "values above the index's nlist probe every list). Default: the index's own "
        "(/api/health index_type names the index). Accepted and without effect on other "
        "index types (flat, HNSW) and in lexical mode; with filters the index may probe more.",
    ),
    _param(
        "ef_search",
        {"type": "integer", "minimum": 1, "maximum": MAX_EF_SEARCH},
        "HNSW indexes: search breadth (efSearch) for this request (more: better recall, "
        "slower; never below k). Default: the index's own. Accepted and without effect on "
        "other index types (flat, IVF) and in lexical mode; with filters the index may widen it.",
    ),
]
SEARCH_PARAMS = [
    _param(
        "q",
        {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
        "The query: plain words (never query syntax).",
    ),
    _param(
        "mode",
        {"type": "string", "enum": list(MODES), "default": "hybrid"},
        "dense (embeddings), lexical (BM25) or hybrid (reciprocal rank fusion of both).",
    ),
    _param(
        "rerank",
        {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"], "default": "false"},
        "Re-score the mode's top candidates with the server's cross-encoder (opt-in; "
        "/api/health names it as reranker). 400 when the server has none (reranker null).",
    ),
    *PAGE_PARAMS,
]
SEARCH_PARAMS[0]["required"] = True
PMID = _param("pmid", {"type": "string", "pattern": "^[0-9]+$"}, "PubMed identifier.", "path")


def _json_body_schema() -> dict:
    props: dict[str, Any] = {}
    for p in SEARCH_PARAMS:
        schema = dict(p["schema"])
        if schema.get("type") == "integer":
            schema = {"oneOf": [schema, {"type": "string", "pattern": "^[0-9]+$"}]}
        if p["name"] in ("has_abstract", "rerank"):
            schema = {"oneOf": [{"type": "boolean"}, schema]}
        props[p["name"]] = {**schema, "description": p["description"]}
    return {"type": "object", "required": ["q"], "properties": props, "additionalProperties": False}


SCHEMAS: dict[str, Any] = {
    "Error": {
        **_obj(
            {
                "ok": {"const": False},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "error": _STR,
            }
        ),
        "description": "The one error shape of every endpoint.",
    },
    "Result": _obj(
        {
            "rank": {"type": "integer", "minimum": 1},
            "pmid": {"type": "integer", "minimum": 1},
            "score": {"type": "number"},
            "title": _STR,
            "journal": _STR,
            "year": _NULL_INT,
            "authors": _STR_LIST,
            "doi": _NULL_STR,
            "mesh": _STR_LIST,
            "snippet": {**_STR, "description": "Plain text (not HTML)."},
            "highlights": {
                "type": "array",
                "description": "[start, end) character offsets of matches in snippet.",
                "items": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
            "url": {**_STR, "format": "uri"},
        }
    ),
    "ResultPage": _obj(
        {
            "ok": {"const": True},
            "query": _STR,
            "mode": {"type": "string", "enum": [*MODES, "similar"]},
            "page": {"type": "integer", "minimum": 1},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
            "total": {
                **_NULL_INT,
                "description": "Matching set size when known (hybrid: "
                "full-text matches; dense and similar: candidates ranked).",
            },
            "has_next": {"type": "boolean"},
            "took_ms": {
                "type": "number",
                "minimum": 0,
                "description": "Server time of the request, re-ranking included.",
            },
            "reranked": {
                "type": "boolean",
                "description": "The top candidates were re-scored by the cross-encoder "
                "(scores are then its logits).",
            },
            "rerank_ms": {
                "type": ["number", "null"],
                "minimum": 0,
                "description": "Time of the re-scoring (part of took_ms); null if not reranked.",
            },
            "model": {**_STR, "description": "Model that ranked the results (bm25: lexical)."},
            "version": {"type": "integer", "minimum": 0},
            "filters": {"type": "object"},
            "results": {"type": "array", "items": {"$ref": REF + "Result"}},
        }
    ),
    "Article": _obj(
        {
            "ok": {"const": True},
            "pmid": {"type": "integer", "minimum": 1},
            "version": {"type": "integer"},
            "title": _STR,
            "sections": {
                "type": "array",
                "items": _obj({"label": _NULL_STR, "category": _NULL_STR, "text": _STR}),
            },
            "abstract": _STR,
            "journal": _STR,
            "journal_iso": _STR,
            "year": _NULL_INT,
            "authors": _STR_LIST,
            "mesh": {
                "type": "array",
                "items": _obj({"name": _STR, "ui": _NULL_STR, "major": {"type": "boolean"}}),
            },
            "publication_types": _STR_LIST,
            "keywords": _STR_LIST,
            "language": _STR,
            "doi": _NULL_STR,
            "url": {**_STR, "format": "uri"},
            "doi_url": _NULL_STR,
        }
    ),
    "Health": _obj(
        {
            "ok": {"const": True},
            "documents": {"type": "integer", "minimum": 0},
            "vectors": {"type": "integer", "minimum": 0},
            "model": _STR,
            "reranker": {
                **_NULL_STR,
                "description": "Cross-encoder that rerank=true uses; null: re-ranking is off.",
            },
            "fingerprint": {**_STR, "description": "First 12 hex digits of the weights' sha256."},
            "dim": {"type": "integer", "minimum": 0},
            "index_type": {**_STR, "description": "FAISS factory string."},
            "index_version": {"type": "integer", "minimum": 0},
            "built_at": _STR,
            "package_version": _STR,
        }
    ),
    "SearchRequest": _json_body_schema(),
}
SCHEMAS["SimilarPage"] = {
    **SCHEMAS["ResultPage"],
    "required": sorted([*SCHEMAS["ResultPage"]["required"], "pmid"]),
    "properties": {**SCHEMAS["ResultPage"]["properties"], "pmid": {"type": "integer"}},
}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF + ref}}}


def _error(description: str) -> dict:
    return {"description": description, "content": _json("Error")}


def _page_responses(ref: str) -> dict:
    content = _json(ref)
    for fmt, (content_type, _, _) in EXPORTS.items():
        content[content_type.split(";")[0]] = {
            "schema": {"type": "string", "description": f"format={fmt}: an attachment"}
        }
    return {
        "200": {"description": "One page of results.", "content": content},
        "400": _error("A parameter is invalid; the message names it."),
        "404": _error("No such article."),
        "500": _error("Unexpected server error."),
        "default": _error("Any other error (405, 413, ...): the same shape."),
    }


@cache
def openapi_document() -> dict[str, Any]:
    errors = {
        "500": _error("Unexpected server error."),
        "default": _error("Any other error (405, 413, ...): the same shape."),
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "pubmed-search",
            "version": "1",
            "description": "Semantic, lexical and hybrid search over PubMed abstracts. Every "
            "error (400, 404, 405, 413, 500) has the Error shape.",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search articles.",
                    "parameters": SEARCH_PARAMS,
                    "responses": _page_responses("ResultPage"),
                },
                "post": {
                    "operationId": "searchPost",
                    "summary": "Search articles; the parameters as a JSON object.",
                    "requestBody": {"required": True, "content": _json("SearchRequest")},
                    "responses": {
                        **_page_responses("ResultPage"),
                        "413": _error("Body over the size limit."),
                    },
                },
            },
            "/api/articles/{pmid}": {
                "get": {
                    "operationId": "article",
                    "summary": "One stored article in full.",
                    "parameters": [PMID],
                    "responses": {
                        "200": {"description": "The article.", "content": _json("Article")},
                        "404": _error("No such article."),
                        **errors,
                    },
                },
            },
            "/api/articles/{pmid}/similar": {
                "get": {
                    "operationId": "similar",
                    "summary": "Articles nearest to this one's vector.",
                    "parameters": [PMID, *PAGE_PARAMS],
                    "responses": _page_responses("SimilarPage"),
                },
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "What is being served.",
                    "responses": {
                        "200": {"description": "Index and model.", "content": _json("Health")},
                        **errors,
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {"schemas": SCHEMAS},
    }
