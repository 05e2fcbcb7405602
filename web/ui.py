"""The web UI: server-rendered pages over the same service functions as the API.

Views only parse, call ``web.service`` and render; the templates only display. Everything
works without JavaScript (forms are plain GET forms; exports are links to the API; the
facets' year chart is inline SVG drawn on the server, its bars and the facet values links).

The UI shows facets unless asked not to (``facets=0``); the API counts them only when asked.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from indexer.errors import InvalidParameter
from indexer.lexical.syntax import QuerySyntaxError
from search.params import ANY_WORDS, params_of
from search.results import NotFound
from web.api import engine
from web.params import ParamError, SearchParams, parse_params, parse_pmid
from web.service import (
    article_dict,
    health_dict,
    related_page,
    reranker_name,
    search_page,
    similar_page,
)

bp = Blueprint("ui", __name__)
SIMILAR_ON_ARTICLE = 5
FORM_PARAMS = tuple(
    p.name for p in params_of("search") if p.group in ("query", "filter") or p.name == "k"
)
"""The declared parameters the search form shows (not page, format or the index knobs)."""
UI_FACETS = True
"""The UI's default of ``facets`` (the API's, declared in search.params, is off)."""


@bp.app_context_processor
def served() -> dict[str, Any]:
    """What every page's footer shows: model, article count and index version."""
    try:
        return {"served": health_dict(engine())}
    except Exception:  # a broken engine must not also break the error page
        return {"served": None}


def _ui_args() -> dict[str, str]:
    args = request.args.to_dict(flat=True)
    args.pop("format", None)  # exports are the API's job; the UI links there
    return args


def _render(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _syntax_error(params: Any, error: InvalidParameter) -> dict[str, Any] | None:
    """Where a malformed expression went wrong: the query split at the error's position."""
    if not isinstance(error, QuerySyntaxError):
        return None
    at = max(0, min(error.position, len(params.q)))
    return {"before": params.q[:at], "at": params.q[at : at + 1], "after": params.q[at + 1 :]}


def _search_view() -> Response:
    args = _ui_args()
    form = {key: args.get(key, "") for key in FORM_PARAMS}
    reranker = reranker_name(engine())
    shown = {"form": form, "reranker": reranker, "params": None, "page": None, "link": None}
    if not args.get("q", "").strip():
        return _render("search.html", error=None, **shown)
    if str(args.get("facets", "")).strip().lower() in ANY_WORDS:
        args["facets"] = "1" if UI_FACETS else "0"
    try:
        params = parse_params(args, can_rerank=reranker is not None)
    except ParamError as e:
        return _render("search.html", status=400, error=str(e), **shown)
    # links from this page: its parameters with changes, facets written only when off
    shown["link"] = partial(params.query_args, facets_default=UI_FACETS)
    try:
        page = search_page(engine(), params)
    except InvalidParameter as e:  # the engine's own checks: a malformed expression, ...
        return _render(
            "search.html",
            status=400,
            error=str(e),
            syntax_error=_syntax_error(params, e),
            **{**shown, "params": params},
        )
    return _render("search.html", error=None, **{**shown, "params": params, "page": page})


@bp.get("/")
def home() -> Response:
    return _search_view()


@bp.get("/search")
def search() -> Response:
    return _search_view()


def _pmid(text: str) -> int:
    pmid = parse_pmid(text)
    if pmid is None:
        abort(404, description=f"{text[:40]!r} is not a PubMed identifier")
    return pmid


def _article_or_404(pmid: int) -> dict[str, Any]:
    try:
        return article_dict(engine(), pmid)
    except NotFound:
        abort(404, description=f"there is no article with PMID {pmid} in this index")


@bp.get("/articles/<pmid>")
def article(pmid: str) -> Response:
    number = _pmid(pmid)
    record = _article_or_404(number)
    try:
        similar = similar_page(engine(), number, SearchParams(k=SIMILAR_ON_ARTICLE))
    except NotFound:  # no vector (neither title nor abstract)
        similar = None
    return _render("article.html", article=record, similar=similar)


@bp.get("/articles/<pmid>/similar")
def similar(pmid: str) -> Response:
    return _listing("similar", pmid)


@bp.get("/articles/<pmid>/references")
def references(pmid: str) -> Response:
    return _listing("references", pmid)


@bp.get("/articles/<pmid>/cited-by")
def cited_by(pmid: str) -> Response:
    return _listing("cited_by", pmid)


def _listing(relation: str, pmid: str) -> Response:
    """A page of the articles similar to, cited by or citing ``pmid``, with filters."""
    number = _pmid(pmid)
    record = _article_or_404(number)
    args = _ui_args()
    shown = {"article": record, "relation": relation, "form": args, "page": None}
    try:
        params = parse_params(args, need_query=False)
    except ParamError as e:
        return _render("listing.html", status=400, params=None, error=str(e), **shown)
    try:
        if relation == "similar":
            page = similar_page(engine(), number, params)
        else:
            page = related_page(engine(), relation, number, params)
    except NotFound as e:
        return _render("listing.html", status=404, params=params, error=str(e), **shown)
    shown["page"] = page
    return _render("listing.html", params=params, error=None, **shown)
