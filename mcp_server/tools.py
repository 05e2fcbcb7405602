"""The MCP tools: ``search``, ``get_article``, ``similar``, ``references`` and ``cited_by``,
over the API's own service layer.

Each tool validates its arguments with the API's parser and computes with the API's service
functions (``web.service``), so its structured result is the dict the API returns for the
same request (``/api/search``, ``/api/articles/{pmid}``, ``.../similar``, ``.../references``,
``.../cited-by``);
its text is a compact rendering for a model's context: per hit the PMID, title, journal,
year, DOI, PubMed URL and the passage. Every failure is a :class:`ToolError` carrying the
message the API gives (an internal failure: the API's generic message, logged here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from indexer.errors import PubmedSearchError
from mcp_server.schemas import TOOL_DEFAULTS, input_schema
from web.errors import INTERNAL_MESSAGE
from web.params import parse_params, parse_pmid
from web.service import article_dict, related_page, search_page, similar_page

if TYPE_CHECKING:
    from search.engine import SearchEngine

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    "search": "Search the PubMed abstracts of this index (dense, lexical or hybrid ranking, "
    "filters by year, journal, MeSH, publication type). Each result has PMID, title, journal, "
    "year, DOI, PubMed URL and, with passages (on by default), the abstract passage that best "
    "matches the query with its character offsets into the abstract.",
    "get_article": "The full stored record of one article by PMID: title, abstract sections, "
    "journal, year, authors, MeSH terms, publication types, keywords, DOI, PubMed URL.",
    "similar": "Articles most similar to the article with this PMID: by=text (its own "
    "embedding's nearest neighbours), citations (citation links and shared references inside "
    "the index) or both, with the same filters and passages as search.",
    "references": "The articles of this index that the article with this PMID cites, in its "
    "reference list's order (paged; filters apply).",
    "cited_by": "The articles of this index that cite the article with this PMID, newest "
    "first (paged; filters apply).",
}
TITLES = {
    "search": "Search PubMed",
    "get_article": "Get article",
    "similar": "Similar articles",
    "references": "References",
    "cited_by": "Cited by",
}
NOT_A_PMID = "pmid: not a PubMed identifier (a positive integer)"


class ToolError(Exception):
    """A tool call that failed; ``str()`` is the message the client sees."""


def _pmid(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ToolError(NOT_A_PMID)
    pmid = parse_pmid(str(value).strip())
    if pmid is None:
        raise ToolError(NOT_A_PMID)
    return pmid


def _check_keys(tool: str, arguments: Mapping[str, Any], can_rerank: bool) -> None:
    known = list(input_schema(tool, can_rerank)["properties"])
    unknown = sorted(str(k) for k in arguments if k not in known)
    if unknown:
        raise ToolError(f"{unknown[0]}: unknown parameter (known: {', '.join(known)})")


def _params(arguments: Mapping[str, Any], need_query: bool, can_rerank: bool):
    values = {**TOOL_DEFAULTS, **{k: v for k, v in arguments.items() if k != "pmid"}}
    return parse_params(values, need_query=need_query, strict=True, can_rerank=can_rerank)


def run_tool(
    engine: SearchEngine, tool: str, arguments: Mapping[str, Any] | None, can_rerank: bool
) -> dict[str, Any]:
    """The structured result of ``tool`` called with ``arguments`` (ToolError on failure)."""
    if tool not in DESCRIPTIONS:
        raise ToolError(f"tool: no tool named {tool!r} (tools: {', '.join(DESCRIPTIONS)})")
    arguments = arguments or {}
    if not isinstance(arguments, Mapping):
        raise ToolError("arguments: must be an object")
    _check_keys(tool, arguments, can_rerank)
    try:
        if tool == "search":
            return search_page(engine, _params(arguments, True, can_rerank))
        pmid = _pmid(arguments.get("pmid"))
        if tool == "get_article":
            return article_dict(engine, pmid)
        params = _params(arguments, False, can_rerank)
        if tool == "similar":
            return similar_page(engine, pmid, params)
        return related_page(engine, tool, pmid, params)
    except PubmedSearchError as e:
        if e.status < 500:
            raise ToolError(str(e)) from e
        log.error("tool %s failed: %s: %s", tool, type(e).__name__, e)
        raise ToolError(INTERNAL_MESSAGE) from e


def _hit_text(r: Mapping[str, Any]) -> str:
    year = r["year"] if r["year"] is not None else "n.d."
    doi = f" doi:{r['doi']}" if r["doi"] else ""
    lines = [f"[{r['rank']}] PMID {r['pmid']} ({year}) {r['title']} {r['journal']}.{doi}"]
    lines.append(f"    {r['url']}")
    if r.get("citation"):
        lines.append(f"    Cite: {r['citation']}")
    passage = r.get("passage")
    if passage:
        where = passage["section"] or "abstract"
        lines.append(f"    [{where}, abstract chars {passage['start']}-{passage['end']}]")
        lines.append(f"    {passage['text']}")
    elif r.get("snippet"):
        lines.append(f"    {r['snippet']}")
    return "\n".join(lines)


def render(tool: str, result: Mapping[str, Any]) -> str:
    """The text content of a tool's result (the structured content carries everything)."""
    if tool == "get_article":
        return json.dumps(result, ensure_ascii=False)
    total = "?" if result["total"] is None else result["total"]
    head = f"{total} matches for {result['query']!r} ({result['mode']}, page {result['page']})"
    hits = [_hit_text(r) for r in result["results"]] or ["no results"]
    return "\n\n".join([head, *hits])
