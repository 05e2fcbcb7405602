"""The retrieval API (JSON, plus RIS/BibTeX/CSV/MEDLINE exports of a result page) under /api.

Every view validates with ``web.params``, computes with ``web.service`` and leaves errors to
``web.errors`` (one shape: ``{"ok": false, "status", "error"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from web.batch import batch_response
from web.errors import ApiError
from web.exports import export
from web.openapi import openapi_document
from web.params import SearchParams, parse_params, parse_pmid
from web.service import (
    add_records,
    article_dict,
    health_dict,
    related_page,
    reranker_name,
    search_page,
    similar_page,
)

bp = Blueprint("api", __name__, url_prefix="/api")


def engine() -> Any:
    from web import EXTENSION

    return current_app.extensions[EXTENSION]


def json_body() -> Mapping[str, Any]:
    """The request body as a JSON object (400 when it is not one; 413 when too large)."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, RecursionError):
        raise ApiError(400, "body: not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, 'body: must be a JSON object such as {"q": "asthma"}')
    return data


def pmid_or_404(text: str) -> int:
    pmid = parse_pmid(text)
    if pmid is None:
        raise ApiError(404, "pmid: not a PubMed identifier (a positive integer)")
    return pmid


def result_page(page: dict[str, Any], params: SearchParams, name: str) -> Response:
    """JSON, or the page exported in ``params.format`` as an attachment."""
    if params.format == "json":
        return jsonify(page)
    add_records(engine(), page["results"])
    body, content_type, filename = export(params.format, page["results"], name)
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/search", methods=["GET", "POST"])
def search() -> Response:
    can_rerank = reranker_name(engine()) is not None
    if request.method == "POST":
        params = parse_params(json_body(), strict=True, can_rerank=can_rerank)
    else:
        params = parse_params(request.args, can_rerank=can_rerank)
    return result_page(search_page(engine(), params), params, params.q)


@bp.post("/search/batch")
def search_batch() -> Response:
    can_rerank = reranker_name(engine()) is not None
    return jsonify(batch_response(engine(), json_body(), can_rerank))


@bp.get("/articles/<pmid>")
def article(pmid: str) -> Response:
    return jsonify(article_dict(engine(), pmid_or_404(pmid)))


@bp.get("/articles/<pmid>/similar")
def similar(pmid: str) -> Response:
    number = pmid_or_404(pmid)
    params = parse_params(request.args, need_query=False)
    return result_page(similar_page(engine(), number, params), params, f"similar {number}")


@bp.get("/articles/<pmid>/references")
def references(pmid: str) -> Response:
    return _related("references", pmid)


@bp.get("/articles/<pmid>/cited-by")
def cited_by(pmid: str) -> Response:
    return _related("cited_by", pmid)


def _related(relation: str, pmid: str) -> Response:
    number = pmid_or_404(pmid)
    params = parse_params(request.args, need_query=False)
    name = f"{relation.replace('_', '-')} {number}"
    return result_page(related_page(engine(), relation, number, params), params, name)


@bp.get("/health")
def health() -> Response:
    return jsonify(health_dict(engine()))


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
