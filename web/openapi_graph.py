"""The OpenAPI description of the citation record: every result's and article's retraction
standing and citation counts, and ``GET /api/articles/{pmid}/references`` and
``/cited-by`` (``search.graph``), built on the ``SimilarPage`` schema of ``web.openapi``."""

from __future__ import annotations

from typing import Any

_PMIDS = {"type": "array", "items": {"type": "integer", "minimum": 1}}

STANDING: dict[str, Any] = {
    "retracted": {
        "type": "boolean",
        "description": "Retracted, by its own record (RetractionIn, publication type "
        "Retracted Publication) or by a newer retraction notice's RetractionOf.",
    },
    "retraction_notices": {**_PMIDS, "description": "PMIDs of the retraction notices."},
    "expression_of_concern": {
        "type": "boolean",
        "description": "Under an expression of concern (ExpressionOfConcernIn / For).",
    },
    "concern_notices": {**_PMIDS, "description": "PMIDs of the expressions of concern."},
    "cited_by": {
        "type": "integer",
        "minimum": 0,
        "description": "Articles of this index version whose reference lists cite it.",
    },
}
"""Properties of every result (``Result``) and article."""

ARTICLE_ONLY: dict[str, Any] = {
    "references_in_index": {
        "type": "integer",
        "minimum": 0,
        "description": "How many of the PMIDs it cites are articles of this version.",
    },
}
CITATION = {
    "type": "string",
    "description": "Vancouver (NLM) citation, as PubMed's Cite gives it: authors, title, "
    "journal ISO abbreviation, date;volume(issue):pages, doi, Epub date, PMID, PMCID.",
}


def graph_paths(pmid: dict, params: list[dict], responses: dict) -> dict[str, Any]:
    """The two citation-graph paths (``pmid``: the path parameter; ``params``: the similar
    endpoint's query parameters; ``responses``: a page's responses)."""
    return {
        "/api/articles/{pmid}/references": {
            "get": {
                "operationId": "references",
                "summary": "Articles of the index that this one cites, in its reference order "
                "(paged; filters apply).",
                "parameters": [pmid, *params],
                "responses": responses,
            },
        },
        "/api/articles/{pmid}/cited-by": {
            "get": {
                "operationId": "cited_by",
                "summary": "Articles of the index that cite this one, newest first (paged; "
                "filters apply).",
                "parameters": [pmid, *params],
                "responses": responses,
            },
        },
    }
