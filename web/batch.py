"""``POST /api/search/batch``: up to 64 searches in one request, one response.

The body is ``{"queries": [{"q": ..., <any /api/search parameter>}, ...]}``. Each item is
validated exactly as a ``POST /api/search`` body is (``web.params.parse_params``, strict) and
answered on its own: the response's ``pages`` list holds, in order, the page
``/api/search`` would have returned for that item, or that item's error in the one error
shape (``{"ok": false, "status", "error"}``) with the message ``/api/search`` would have
given. A batch is refused whole (400) only when the body itself is wrong: not a JSON
object, no ``queries`` list, an empty list, more than :data:`~search.batch.MAX_BATCH` items,
or another top-level key. Exports (``format`` other than json) are per-item errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from indexer.errors import PubmedSearchError
from search.batch import MAX_BATCH, search_many
from search.pages import page_dict
from web.errors import INTERNAL_MESSAGE, ApiError, error_body
from web.params import ParamError, SearchParams, parse_params
from web.service import search_args

if TYPE_CHECKING:
    from search.engine import SearchEngine

log = logging.getLogger(__name__)

NOT_AN_OBJECT = 'body: must be a JSON object such as {"q": "asthma"}'


def batch_items(body: Mapping[str, Any]) -> list[Any]:
    """The ``queries`` list of a batch body (ApiError 400 when the body is not a batch)."""
    unknown = sorted(str(k) for k in body if k != "queries")
    if unknown:
        raise ApiError(400, f"{unknown[0]}: unknown key (a batch body has only queries)")
    items = body.get("queries")
    if not isinstance(items, list) or not items:
        raise ApiError(
            400, 'queries: must be a non-empty list of search objects such as [{"q": "asthma"}]'
        )
    if len(items) > MAX_BATCH:
        raise ApiError(400, f"queries: at most {MAX_BATCH} searches a batch, got {len(items)}")
    return items


def parse_item(item: Any, can_rerank: bool) -> SearchParams:
    """One item, validated as a POST /api/search body (ParamError / ApiError when not)."""
    if not isinstance(item, dict):
        raise ApiError(400, NOT_AN_OBJECT)
    params = parse_params(item, strict=True, can_rerank=can_rerank)
    if params.format != "json":
        raise ParamError("format", f"a batch answers JSON only (got {params.format})")
    return params


def error_of(error: Exception) -> dict[str, Any]:
    """The error object of one failed item (the message /api/search would give)."""
    if isinstance(error, PubmedSearchError) and error.status < 500:
        return error_body(error.status, str(error))
    if isinstance(error, PubmedSearchError):
        log.error("batch item failed: %s: %s", type(error).__name__, error)
        return error_body(error.status, INTERNAL_MESSAGE)
    return error_body(500, INTERNAL_MESSAGE)


def batch_response(engine: SearchEngine, body: Mapping[str, Any], can_rerank: bool) -> dict:
    """The ``/api/search/batch`` body for ``body``."""
    items = batch_items(body)
    parsed: list[SearchParams | Exception] = []
    for item in items:
        try:
            parsed.append(parse_item(item, can_rerank))
        except PubmedSearchError as e:
            parsed.append(e)
    valid = [p for p in parsed if isinstance(p, SearchParams)]
    answers = iter(search_many(engine, [search_args(p) for p in valid]))
    pages: list[dict[str, Any]] = []
    for p in parsed:
        outcome = next(answers) if isinstance(p, SearchParams) else p
        pages.append(error_of(outcome) if isinstance(outcome, Exception) else page_dict(outcome))
    failed = sum(1 for page in pages if not page["ok"])
    return {"ok": True, "count": len(pages), "failed": failed, "pages": pages}
