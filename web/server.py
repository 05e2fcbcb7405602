"""The waitress server ``pubmed-search serve`` runs, hardened against slow and hostile clients.

waitress closes a connection only after ``channel_timeout`` seconds *without* a byte, so a
client that trickles one header line every few seconds keeps its connection (and one of
``connection_limit`` slots) forever; enough of them and the server stops accepting. Here:

- every connection gets ``header_timeout`` seconds from the first byte of a request until its
  headers are complete, and ``request_timeout`` until its body is too; a connection that
  misses either deadline is closed (checked about once a second by waitress's loop);
- the connection limit is high (1,000 by default: idle sockets cost little) and the loop uses
  ``poll`` rather than ``select`` (which fails beyond 1,024 descriptors); the process's
  open-file limit is raised to fit, or the connection limit lowered to fit (said on stdout);
- the errors waitress answers itself, before the app sees a request (400 malformed request,
  413 body too large, 431 headers too large, 500 if the app fails outside Flask), leave in the
  API's one error shape (:func:`web.errors.error_body`) with the security headers.

Flask's own limits stay as they are (``MAX_CONTENT_LENGTH`` equals ``max_body``).
"""

from __future__ import annotations

import functools
import json
import resource
import time
from dataclasses import dataclass
from typing import Any

from waitress import create_server as waitress_server
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from web.errors import INTERNAL_MESSAGE, error_body
from web.security import HEADERS

RESERVED_FILES = 256  # descriptors kept for the index, models, logs and threads


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of the server; the defaults are ``serve``'s."""

    connection_limit: int = 1000
    channel_timeout: int = 30  # seconds a connection may stay silent
    header_timeout: float = 10.0  # seconds from a request's first byte to its last header
    request_timeout: float = 30.0  # ... and to the end of its body
    max_header: int = 32 * 1024
    max_body: int = 64 * 1024


class JsonErrorTask(ErrorTask):
    """waitress's own error answers (400, 413, 431, 500) in the API's error shape."""

    def execute(self) -> None:
        error = self.request.error
        status = int(error.code)
        adj = self.channel.adj
        if status == 413:
            detail = f"the body exceeds the server's limit of {adj.max_request_body_size} bytes"
        elif status == 431:
            detail = f"the headers exceed the server's limit of {adj.max_request_header_size} bytes"
        else:
            detail = str(error.body)
        message = INTERNAL_MESSAGE if status >= 500 else f"{error.reason.lower()}: {detail}"
        body = json.dumps(error_body(status, message)).encode("utf-8")
        self.status = f"{status} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.response_headers.extend(HEADERS.items())
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):
    """An HTTP connection that must deliver each request within its deadlines."""

    error_task_class = JsonErrorTask

    def __init__(self, *args: Any, limits: ServerLimits, **kwargs: Any) -> None:
        self.limits = limits
        self.request_started: float | None = None
        super().__init__(*args, **kwargs)

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.monotonic()
        more = super().received(data)
        if self.request is None:
            self.request_started = None
        return more

    def readable(self) -> bool:
        if self._late():
            self.will_close = True  # writable() is then true and the loop closes it
            return False
        return super().readable()

    def _late(self) -> bool:
        started, request = self.request_started, self.request
        if started is None or request is None or self.will_close:
            return False
        waited = time.monotonic() - started
        if not request.headers_finished:
            return waited > self.limits.header_timeout
        return waited > self.limits.request_timeout


def fit_open_files(connection_limit: int) -> int:
    """Raise the soft open-file limit to hold ``connection_limit`` connections; returns the
    connection limit that fits (lower than asked when the hard limit is too low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connection_limit + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return connection_limit
    return max(1, min(connection_limit, soft - RESERVED_FILES))


def create_server(app: Any, host: str, port: int, threads: int, limits: ServerLimits) -> Any:
    """A waitress server for ``app`` on ``host:port`` with ``limits`` (not yet running)."""
    server = waitress_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="pubmed-search",
        connection_limit=limits.connection_limit,
        channel_timeout=limits.channel_timeout,
        cleanup_interval=1,
        max_request_header_size=limits.max_header,
        max_request_body_size=limits.max_body,
        asyncore_use_poll=True,
        clear_untrusted_proxy_headers=True,
    )
    channel = functools.partial(GuardedChannel, limits=limits)
    for listener in _listeners(server):
        listener.channel_class = channel
    return server


def _listeners(server: Any) -> list[Any]:
    """The listening sockets' dispatchers (one per address ``host`` resolves to)."""
    from waitress.server import BaseWSGIServer

    sockets = getattr(server, "map", None) or server._map  # MultiSocketServer / TcpWSGIServer
    return [d for d in sockets.values() if isinstance(d, BaseWSGIServer)]
