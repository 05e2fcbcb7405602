"""The OpenAPI 3.1 description of the API, served at /api/openapi.json.

Schemas are JSON Schema 2020-12 (as OpenAPI 3.1 specifies), so tests validate real responses
against them with ``jsonschema``. The parameters' schemas are generated from their one
declaration (``search.params.PARAMS``), which the request parser (``web.params``) also
follows: a value the parser accepts validates against its schema. Choice and boolean words
are listed as an ``enum`` (lower-case, "" meaning unset); the ``pattern`` next to it admits
what the parser also takes: any letter case and surrounding white space.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from search.graph import RELATIONS
from search.params import MAX_K, SYNTAXES, Param, params_of
from search.passages import MAX_PASSAGE_TOKENS
from search.results import MODES
from web.exports import EXPORTS
from web.openapi_article import ARTICLE_SCHEMA
from web.openapi_batch import batch_path, batch_schemas
from web.openapi_graph import CITATION, STANDING, graph_paths

REF = "#/components/schemas/"
_STR = {"type": "string"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_STR_LIST = {"type": "array", "items": _STR}
_INT_TEXT = r"^\s*(?:[+-]?[0-9]{1,12})?\s*$"
"""An integer as text (what the parser reads from a JSON string): blank means unset."""


def _letter(ch: str) -> str:
    """A regex class of the characters that ``str.lower()`` turns into ``ch``."""
    same = {ch, ch.upper(), *(c for c in ("\u212a",) if c.lower() == ch)}  # KELVIN SIGN -> k
    return "[" + "".join(sorted(same)) + "]" if len(same) > 1 else ch


def words_pattern(words: tuple[str, ...]) -> str:
    """The strings whose ``strip().lower()`` is one of ``words`` (as the parser reads them)."""
    alternatives = "|".join("".join(_letter(c) for c in w) for w in words if w)
    optional = "?" if "" in words else ""
    return rf"^\s*(?:{alternatives}){optional}\s*$"


def _words_schema(param: Param) -> list[dict[str, Any]]:
    return [{"enum": list(param.words)}, {"pattern": words_pattern(param.words)}]


def param_schema(param: Param) -> dict[str, Any]:
    """The schema of a query-string parameter (integers as OpenAPI serializes them)."""
    if param.kind == "text":
        schema: dict[str, Any] = {"type": "string", "maxLength": param.max_chars}
        if param.required:
            schema = {"type": "string", "minLength": 1, "maxLength": param.max_chars}
    elif param.kind == "int":
        schema = {"type": "integer", "minimum": param.minimum, "maximum": param.maximum}
    else:
        schema = {"type": "string", "anyOf": _words_schema(param)}
    if param.default is not None:
        default = param.default
        schema["default"] = str(default).lower() if isinstance(default, bool) else default
    return schema


def body_schema(param: Param) -> dict[str, Any]:
    """The schema of a parameter in a JSON body: also JSON integers / booleans, and null
    (unset) for every optional parameter."""
    schema = param_schema(param)
    options: list[dict[str, Any]]
    if param.kind == "int":
        options = [
            {k: v for k, v in schema.items() if k != "default"},
            {"type": "string", "pattern": _INT_TEXT},
        ]
    elif param.kind in ("choice", "bool"):
        options = [{"type": "string", "anyOf": schema["anyOf"]}]
        if param.kind == "bool":
            options.insert(0, {"type": "boolean"})
    else:
        options = [{k: v for k, v in schema.items() if k != "default"}]
    if not param.required:
        options.append({"type": "null"})
    out: dict[str, Any] = {"anyOf": options} if len(options) > 1 else options[0]
    if "default" in schema:
        out["default"] = schema["default"]
    return out


def _description(param: Param) -> str:
    text = param.help
    if param.kind in ("choice", "bool"):
        unset = "no filter" if param.default is None else str(param.default).lower()
        blank = "blank or any" if param.kind == "bool" else "blank"
        text += f" Case-insensitive; {blank}: {unset}."
    return f"{text} {param.api_help}".strip()


def _param(name: str, schema: dict, description: str, where: str = "query") -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def _query_param(param: Param) -> dict[str, Any]:
    out = _param(param.name, param_schema(param), _description(param))
    out["required"] = param.required
    return out


def _obj(properties: dict[str, Any], extra: bool = False) -> dict:
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
        "additionalProperties": extra,
    }


SEARCH_PARAMS = [_query_param(p) for p in params_of("search")]
SIMILAR_PARAMS = [_query_param(p) for p in params_of("similar")]
PMID = _param("pmid", {"type": "string", "pattern": "^[0-9]+$"}, "PubMed identifier.", "path")


def _json_body_schema() -> dict:
    props = {
        p.name: {**body_schema(p), "description": _description(p)} for p in params_of("search")
    }
    required = [p.name for p in params_of("search") if p.required]
    return {
        "type": "object",
        "required": required,
        "properties": props,
        "additionalProperties": False,
    }


def _counts(value: dict[str, Any], description: str) -> dict[str, Any]:
    item = _obj({"value": value, "count": {"type": "integer", "minimum": 1}})
    return {"type": "array", "items": item, "description": description}


FACETS_SCHEMA = {
    **_obj(
        {
            "year": _counts({"type": "integer"}, "Articles per publication year, by year."),
            "journal": _counts(_STR, "The most frequent journals, most frequent first."),
            "mesh": _counts(_STR, "The most frequent MeSH descriptors, most frequent first."),
            "pubtype": _counts(_STR, "The most frequent publication types, most frequent first."),
        }
    ),
    "description": "Counts over the whole match set (not only this page). Each value is "
    "what the filter of the same name (journal, mesh, pubtype; year: year_from and year_to) "
    "takes.",
}

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
            "citation": CITATION,
            **STANDING,
            "passage": {
                "anyOf": [{"$ref": REF + "Passage"}, {"type": "null"}],
                "description": "With passages=true: the passage best matching the query; "
                "else (and for an article without abstract) null.",
            },
        }
    ),
    "Passage": {
        **_obj(
            {
                "text": _STR,
                "start": {"type": "integer", "minimum": 0},
                "end": {"type": "integer", "minimum": 0},
                "section": {**_NULL_STR, "description": "Section label (null: unlabelled)."},
                "tokens": {"type": "integer", "minimum": 1, "maximum": MAX_PASSAGE_TOKENS},
                "matched_terms": {"type": "integer", "minimum": 0},
            }
        ),
        "description": "An abstract section or sentence window: text == "
        "abstract[start:end] of the stored abstract (GET /api/articles/{pmid}).",
    },
    "ResultPage": _obj(
        {
            "ok": {"const": True},
            "query": _STR,
            "mode": {"type": "string", "enum": [*MODES, "similar", *RELATIONS]},
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
                "description": "The top candidates were re-ranked by the cross-encoder "
                "(scores are then its logits).",
            },
            "rerank_ms": {
                "type": ["number", "null"],
                "minimum": 0,
                "description": "Time of the re-ranking (part of took_ms); null if not reranked.",
            },
            "model": {**_STR, "description": "Model that ranked the results (bm25: lexical)."},
            "version": {"type": "integer", "minimum": 0},
            "filters": {"type": "object"},
            "syntax": {
                "type": "string",
                "enum": list(SYNTAXES),
                "description": "How q was read: plain words, or a PubMed-style expression.",
            },
            "prf": {
                "type": "boolean",
                "description": "Pseudo-relevance feedback ran (prf=true): a second pass "
                "with the expanded query.",
            },
            "facets": {
                "anyOf": [{"$ref": REF + "Facets"}, {"type": "null"}],
                "description": "With facets=true: counts over the whole match set; else null.",
            },
            "results": {"type": "array", "items": {"$ref": REF + "Result"}},
        }
    ),
    "Article": ARTICLE_SCHEMA,
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
    "Facets": FACETS_SCHEMA,
    "SearchRequest": _json_body_schema(),
}
SCHEMAS.update(batch_schemas())
SCHEMAS["SimilarPage"] = {
    **SCHEMAS["ResultPage"],
    "required": sorted([*SCHEMAS["ResultPage"]["required"], "pmid"]),
    "properties": {**SCHEMAS["ResultPage"]["properties"], "pmid": {"type": "integer"}},
}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF + ref}}}


def _error(description: str) -> dict:
    return {"description": description, "content": _json("Error")}


BUSY = {
    **_error(
        "rerank=true while the re-ranking queue is full, or the request ran out of time: "
        "retry after Retry-After seconds, or search without rerank."
    ),
    "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
}


def _page_responses(ref: str) -> dict:
    content = _json(ref)
    for fmt, (content_type, _, _) in EXPORTS.items():
        content[content_type.split(";")[0]] = {
            "schema": {"type": "string", "description": f"format={fmt}: an attachment"}
        }
    return {
        "200": {"description": "One page of results.", "content": content},
        "400": _error(
            "A parameter is invalid; the message names it (a malformed syntax=pubmed "
            "expression: syntax: <what> at position <offset in q>)."
        ),
        "404": _error("No such article."),
        "500": _error("Unexpected server error."),
        "default": _error("Any other error (405, 413, 431, ...): the same shape."),
    }


@cache
def openapi_document() -> dict[str, Any]:
    errors = {
        "500": _error("Unexpected server error."),
        "default": _error("Any other error (405, 413, 431, ...): the same shape."),
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "pubmed-search",
            "version": "1",
            "description": "Semantic, lexical and hybrid search over PubMed abstracts. Every "
            "error (400, 404, 405, 413, 431, 500, 503) has the Error shape.",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search articles.",
                    "parameters": SEARCH_PARAMS,
                    "responses": {**_page_responses("ResultPage"), "503": BUSY},
                },
                "post": {
                    "operationId": "searchPost",
                    "summary": "Search articles; the parameters as a JSON object.",
                    "requestBody": {"required": True, "content": _json("SearchRequest")},
                    "responses": {
                        **_page_responses("ResultPage"),
                        "413": _error("Body over the size limit."),
                        "503": BUSY,
                    },
                },
            },
            "/api/search/batch": batch_path(errors),
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
                    "parameters": [PMID, *SIMILAR_PARAMS],
                    "responses": _page_responses("SimilarPage"),
                },
            },
            **graph_paths(PMID, SIMILAR_PARAMS, _page_responses("SimilarPage")),
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
