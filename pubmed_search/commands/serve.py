"""`pubmed-search serve`: the web UI and retrieval API under waitress.

The index and its model are loaded once, before the first request. A newly published index
version is picked up without a restart: every --reload-interval seconds (checked on the next
request) and at once on SIGHUP (``kill -HUP <pid>``).

Slow clients and expensive requests are bounded (``web.server``, ``search.rerank``): request
deadlines and a high connection limit, so trickling connections cannot stop the server
accepting; a small re-ranking queue that leaves at least one worker thread to every other
request, so health, article and plain searches never wait behind the cross-encoder.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from pubmed_search.cli import Command
from pubmed_search.options import index_model_option, index_option, reload_interval_option
from pubmed_search.stopping import stoppable
from web.server import ServerLimits


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
@reload_interval_option("only on SIGHUP")
@click.option(
    "--rerank-max-tokens",
    type=click.IntRange(256),
    default=50 * 512,
    show_default=True,
    help="Tokens the cross-encoder scores per request (pairs cut to this / --rerank-top-n).",
)
@click.option(
    "--rerank-queue",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Re-ranking requests that may wait while one is scored (more: 503 + Retry-After).",
)
@click.option(
    "--rerank-timeout",
    type=click.FloatRange(0.1),
    default=30.0,
    show_default=True,
    help="Seconds a re-ranking request may wait and score before it fails (503).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(10),
    default=ServerLimits.connection_limit,
    show_default=True,
    help="Open connections at most (then new ones wait in the listen backlog).",
)
@click.option(
    "--channel-timeout",
    type=click.IntRange(1),
    default=ServerLimits.channel_timeout,
    show_default=True,
    help="Seconds a connection may stay silent before it is closed.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0.5),
    default=ServerLimits.header_timeout,
    show_default=True,
    help="Seconds from a request's first byte to the end of its headers (else closed).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(0.5),
    default=ServerLimits.request_timeout,
    show_default=True,
    help="Seconds from a request's first byte to the end of its body (else closed).",
)
@click.option(
    "--max-header",
    type=click.IntRange(1024),
    default=ServerLimits.max_header,
    show_default=True,
    help="Largest request line plus headers in bytes (larger: 431).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=ServerLimits.max_body,
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
    rerank_max_tokens: int,
    rerank_queue: int,
    rerank_timeout: float,
    reload_interval: float,
    **limit_options: Any,
) -> None:
    from web import RELOADER, create_app
    from web.server import create_server, fit_open_files

    if rerank_model and rerank_queue + 2 > threads:
        raise click.UsageError(
            f"--rerank-queue {rerank_queue} with --threads {threads} leaves no worker thread "
            f"for requests without rerank: use at most {max(0, threads - 2)} or more threads"
        )
    limits = ServerLimits(**limit_options)
    fitted = fit_open_files(limits.connection_limit)
    if fitted < limits.connection_limit:
        click.echo(f"The open-file limit allows {fitted} connections (--connection-limit).")
        limits = dataclasses.replace(limits, connection_limit=fitted)
    app = create_app(
        {
            "INDEX_DIR": index_dir,
            "MODEL": model,
            "RERANK_MODEL": rerank_model,
            "RERANK_TOP_N": rerank_top_n,
            "RERANK_MAX_TOKENS": rerank_max_tokens,
            "RERANK_QUEUE": rerank_queue,
            "RERANK_TIMEOUT": rerank_timeout,
            "RELOAD_INTERVAL": reload_interval,
            "MAX_CONTENT_LENGTH": limits.max_body,
        }
    )
    server = create_server(app, host, port, threads, limits)
    app.extensions[RELOADER].install_sighup()
    click.echo(f"Serving {index_dir} on {_address(server, host, port)}")
    click.echo("Ctrl+C stops; SIGHUP reloads a newly published index version.")
    sys.stdout.flush()
    try:
        server.run()  # until SIGINT/SIGTERM interrupts it (KeyboardInterrupt: see stoppable)
    finally:
        server.close()
