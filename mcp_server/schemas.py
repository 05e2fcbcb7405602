"""The MCP tools' input schemas, derived from the one parameter declaration.

Every property of the ``search`` and ``similar`` tools is a parameter of
``search.params.PARAMS`` for that endpoint, with its kind, bounds, choices, default and help
(and the API documentation's note): the same declaration the API's parser, its OpenAPI
document and the CLI options follow. The schema is the plain JSON type of each parameter
(integer, boolean, an enum of the choices), which is what a language model fills in best;
the API's parser (``web.params.parse_params``) then validates the arguments, so a bad value
gets the API's own message. Left out: ``format`` (the tools answer JSON), and ``rerank``
when the engine has no cross-encoder.

:data:`TOOL_DEFAULTS` is the one place a tool's default differs from the API's:
``passages`` is on, since citable passages are what an agent's prompt needs.
"""

from __future__ import annotations

from typing import Any

from search.params import Param, params_of
from web.params import MAX_PMID

EXCLUDED = ("format",)
TOOL_DEFAULTS: dict[str, Any] = {"passages": True}


def default_of(param: Param) -> Any:
    return TOOL_DEFAULTS.get(param.name, param.default)


def property_schema(param: Param) -> dict[str, Any]:
    """The JSON schema of one declared parameter as a tool argument."""
    schema: dict[str, Any]
    if param.kind == "text":
        schema = {"type": "string", "maxLength": param.max_chars}
        if param.required:
            schema["minLength"] = 1
    elif param.kind == "int":
        schema = {"type": "integer", "minimum": param.minimum, "maximum": param.maximum}
    elif param.kind == "choice":
        schema = {"type": "string", "enum": list(param.choices)}
    else:
        schema = {"type": "boolean"}
    default = default_of(param)
    if default is not None:
        schema["default"] = default
    schema["description"] = f"{param.help} {param.api_help}".strip()
    return schema


GRAPH_TOOLS = ("references", "cited_by")
"""Tools over the citation graph: the similar endpoint's paging and filters, without its
``by`` and index knobs."""
GRAPH_EXCLUDED = ("by", "nprobe", "ef_search")


def tool_params(tool: str, can_rerank: bool) -> tuple[Param, ...]:
    """The declared parameters ``tool`` takes (search, similar, references, cited_by)."""
    skip = EXCLUDED if can_rerank else (*EXCLUDED, "rerank")
    if tool in GRAPH_TOOLS:
        skip = (*skip, *GRAPH_EXCLUDED)
    endpoint = "search" if tool == "search" else "similar"
    return tuple(p for p in params_of(endpoint) if p.name not in skip)


PMID_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_PMID,
    "description": "PubMed identifier (PMID) of an article in the index.",
}


def input_schema(tool: str, can_rerank: bool = False) -> dict[str, Any]:
    """The ``inputSchema`` of ``tool`` (search, similar, references, cited_by or
    get_article)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    if tool != "search":
        props["pmid"] = dict(PMID_SCHEMA)
        required.append("pmid")
    if tool != "get_article":
        for param in tool_params(tool, can_rerank):
            props[param.name] = property_schema(param)
            if param.required:
                required.append(param.name)
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
