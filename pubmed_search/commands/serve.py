"""`pubmed-search serve`: the web UI and retrieval API under waitress.

The index and its model are loaded once, before the first request. A newly published index
version is picked up without a restart: every --reload-interval seconds (checked on the next
request) and at once on SIGHUP (``kill -HUP <pid>``).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from pubmed_search.cli import Command
from pubmed_search.options import index_model_option, index_option
from pubmed_search.stopping import stoppable


def _address(server: object, host: str, port: int) -> str:
    """The URL the server listens on (the real port when --port 0 was asked)."""
    host = str(getattr(server, "effective_host", host))
    port = int(getattr(server, "effective_port", port))
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@click.command("serve", cls=Command)
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port (0: any free port; the address is printed).",
)
@click.option(
    "--threads", type=click.IntRange(1, 256), default=4, show_default=True, help="Worker threads."
)
@index_model_option
@click.option(
    "--rerank",
    "rerank_model",
    default=None,
    metavar="MODEL",
    help="Cross-encoder (local directory or hub id) that searches may opt into with rerank=1.",
)
@click.option(
    "--rerank-top-n",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Top candidates the cross-encoder re-ranks.",
)
@click.option(
    "--reload-interval",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds between checks for a newly published index version (0: only on SIGHUP).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=64 * 1024,
    show_default=True,
    help="Largest request body in bytes (larger: 413).",
)
def command(**options: Any) -> None:
    """Serve the search UI at / and the JSON API at /api (see /api/openapi.json).

    Send SIGHUP to reload a newly published index version at once; SIGINT (Ctrl+C) or SIGTERM
    stops it with the line "stopped" and exit status 0 (see :mod:`pubmed_search.stopping`).
    """
    with stoppable():
        _serve(**options)


def _serve(
    index_dir: str,
    host: str,
    port: int,
    threads: int,
    model: str | None,
    rerank_model: str | None,
    rerank_top_n: int,
    reload_interval: float,
    max_body: int,
) -> None:
    from waitress import create_server

    from web import RELOADER, create_app

    app = create_app(
        {
            "INDEX_DIR": index_dir,
            "MODEL": model,
            "RERANK_MODEL": rerank_model,
            "RERANK_TOP_N": rerank_top_n,
            "RELOAD_INTERVAL": reload_interval,
            "MAX_CONTENT_LENGTH": max_body,
        }
    )
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="pubmed-search",
        max_request_body_size=max_body,
        clear_untrusted_proxy_headers=True,
    )
    app.extensions[RELOADER].install_sighup()
    click.echo(f"Serving {index_dir} on {_address(server, host, port)}")
    click.echo("Ctrl+C stops; SIGHUP reloads a newly published index version.")
    sys.stdout.flush()
    try:
        server.run()  # until SIGINT/SIGTERM interrupts it (KeyboardInterrupt: see stoppable)
    finally:
        server.close()
