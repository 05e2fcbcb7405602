"""`pubmed-search mcp`: the index's search as Model Context Protocol tools for LLM agents.

Over stdio by default (what desktop MCP clients spawn: nothing but protocol messages on
stdout, logs on stderr); with ``--http PORT``, streamable HTTP at
``http://127.0.0.1:PORT/mcp`` (loopback only; the address is printed on stderr).
"""

from __future__ import annotations

import click

from indexer.errors import Unavailable
from pubmed_search.cli import Command
from pubmed_search.options import index_model_option, index_option, reload_interval_option


@click.command("mcp", cls=Command)
@index_option
@index_model_option
@click.option(
    "--http",
    "http_port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="Serve streamable HTTP on 127.0.0.1:PORT (0: any free port) instead of stdio.",
)
@reload_interval_option("never")
def command(
    index_dir: str, model: str | None, http_port: int | None, reload_interval: float
) -> None:
    """Serve --index to MCP clients: the tools search, get_article and similar."""
    try:
        import anyio

        from mcp_server.server import build_server, loopback_socket, serve_http, serve_stdio
    except ModuleNotFoundError as e:
        raise Unavailable(
            f"the MCP server needs the mcp package ({e.name} is missing): "
            "pip install 'pubmed-search[mcp]'"
        ) from e
    from search import SearchEngine

    sock = loopback_socket(http_port) if http_port is not None else None
    engine = SearchEngine.open(index_dir, model=model)
    try:
        server = build_server(engine, reload_interval)
        if sock is None:
            anyio.run(serve_stdio, server)
        else:
            anyio.run(serve_http, server, sock)
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
        if sock is not None:
            sock.close()
