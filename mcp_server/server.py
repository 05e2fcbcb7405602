"""The MCP server (the official SDK's low-level ``mcp.server.Server``): tool listing and
calls, over stdio or streamable HTTP on loopback.

The low-level server is used rather than ``MCPServer`` because the tools' input schemas
come from the parameter declaration (``mcp_server.schemas``), not from Python signatures.
Tool calls run in a worker thread (the engine is thread-safe and CPU-bound), and check for
a newly published index version first, as the web server does (``web.reload``). A call
never brings the server down: whatever it raises becomes a tool error (``isError``) whose
text is the API's message.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server import Server

from mcp_server.schemas import input_schema
from mcp_server.tools import DESCRIPTIONS, TITLES, ToolError, render, run_tool
from web.errors import INTERNAL_MESSAGE
from web.reload import Reloader
from web.service import reranker_name

if TYPE_CHECKING:
    from search.engine import SearchEngine

log = logging.getLogger(__name__)

NAME = "pubmed-search"
INSTRUCTIONS = (
    "Local search over the PubMed abstracts of one index. Use search to find articles "
    "(cite them by PMID and PubMed URL; quote the passage text, whose offsets point into the "
    "abstract), get_article for one record in full, similar for articles like a given PMID."
)
HTTP_PATH = "/mcp"


def tool_list(can_rerank: bool) -> list[types.Tool]:
    return [
        types.Tool(
            name=name,
            title=TITLES[name],
            description=DESCRIPTIONS[name],
            input_schema=input_schema(name, can_rerank),
            annotations=types.ToolAnnotations(
                read_only_hint=True, destructive_hint=False, idempotent_hint=True
            ),
        )
        for name in DESCRIPTIONS
    ]


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


def build_server(engine: SearchEngine, reload_interval: float = 5.0) -> Server[Any]:
    """An MCP server answering with ``engine`` (``reload_interval``: seconds between checks
    for a new index version, 0: never)."""
    can_rerank = reranker_name(engine) is not None
    tools = tool_list(can_rerank)
    reloader = Reloader(engine, reload_interval)

    def call(name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        reloader.maybe_reload()
        return run_tool(engine, name, arguments, can_rerank)

    async def on_list_tools(ctx: Any, params: types.PaginatedRequestParams | None):
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams):
        try:
            result = await anyio.to_thread.run_sync(call, params.name, params.arguments)
        except ToolError as e:
            log.info("tool %s refused: %s", params.name, e)
            return _error(str(e))
        except Exception:
            log.exception("tool %s failed", params.name)
            return _error(INTERNAL_MESSAGE)
        text = render(params.name, result)
        structured = json.loads(json.dumps(result, allow_nan=False))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured
        )

    return Server(
        NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pubmed-search")
    except PackageNotFoundError:
        return "0"


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def loopback_socket(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    return sock


async def serve_http(server: Server[Any], sock: socket.socket) -> None:
    """Streamable HTTP at ``http://127.0.0.1:<port>/mcp`` on ``sock`` until cancelled or
    interrupted (uvicorn handles SIGINT / SIGTERM)."""
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=HTTP_PATH, host="127.0.0.1")
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    port = sock.getsockname()[1]
    print(f"MCP streamable HTTP on http://127.0.0.1:{port}{HTTP_PATH}", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])
