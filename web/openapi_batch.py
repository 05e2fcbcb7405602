"""The OpenAPI description of ``POST /api/search/batch`` (``web.batch``): its request and
response schemas, built on the ``SearchRequest``, ``ResultPage`` and ``Error`` schemas of
``web.openapi``."""

from __future__ import annotations

from typing import Any

from search.batch import MAX_BATCH

REF = "#/components/schemas/"


def batch_schemas() -> dict[str, Any]:
    """``BatchRequest`` and ``BatchResponse``, for ``components.schemas``."""
    return {
        "BatchRequest": {
            "type": "object",
            "required": ["queries"],
            "properties": {
                "queries": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": {"$ref": REF + "SearchRequest"},
                    "description": "Searches, each a POST /api/search body (format: json only).",
                }
            },
            "additionalProperties": False,
        },
        "BatchResponse": {
            "type": "object",
            "required": ["ok", "count", "failed", "pages"],
            "properties": {
                "ok": {"const": True},
                "count": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH},
                "failed": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many items are errors.",
                },
                "pages": {
                    "type": "array",
                    "description": "One per query, in order: its result page, or its error "
                    "(the message /api/search gives for that query).",
                    "items": {"anyOf": [{"$ref": REF + "ResultPage"}, {"$ref": REF + "Error"}]},
                },
            },
            "additionalProperties": False,
        },
    }


def batch_path(errors: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/search/batch`` path item (``errors``: the shared 500/default responses)."""

    def json(ref: str) -> dict:
        return {"application/json": {"schema": {"$ref": REF + ref}}}

    return {
        "post": {
            "operationId": "searchBatch",
            "summary": f"Up to {MAX_BATCH} searches in one request; the query vectors of the "
            "dense and hybrid ones computed in one forward pass of the encoder.",
            "requestBody": {"required": True, "content": json("BatchRequest")},
            "responses": {
                "200": {
                    "description": "Every item answered on its own: a page or an error object.",
                    "content": json("BatchResponse"),
                },
                "400": {
                    "description": "The body is not a batch (not an object, no queries list, "
                    f"empty, over {MAX_BATCH} items, an unknown key); a bad item is an error "
                    "in pages instead.",
                    "content": json("Error"),
                },
                "413": {"description": "Body over the size limit.", "content": json("Error")},
                **errors,
            },
        }
    }
