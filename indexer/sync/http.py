"""HTTP for sync: GET with retries and exponential backoff on the standard library's urllib.

Retried: refused, dropped or timed-out connections, truncated bodies, HTTP 429 and 5xx;
other HTTP errors fail at once. Only ``http`` and ``https`` URLs are opened.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from indexer.errors import EXIT_BAD_INPUTS, PubmedSearchError

log = logging.getLogger(__name__)

USER_AGENT = "pubmed-search-sync"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0
T = TypeVar("T")


class SyncError(PubmedSearchError, RuntimeError):
    """A file or listing could not be fetched or verified; the message says which and why."""


class SyncIncomplete(SyncError):
    """The sync finished, but some files could not be downloaded or verified (exit 5, so a
    cron job notices); what could be applied was."""

    exit_code = EXIT_BAD_INPUTS


class Truncated(OSError):
    """A body ended before its Content-Length."""


TRANSIENT: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    Truncated,
)


def open_url(url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
    if not url.startswith(("http://", "https://")):
        raise SyncError(f"{url}: only http(s) URLs are fetched")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    return urllib.request.urlopen(request, timeout=timeout)


def retrying(what: str, attempt: Callable[[], T], retries: int, backoff: float) -> T:
    """``attempt()``, again after transient failures (module docstring), at most ``retries``
    more times; then :class:`SyncError` naming ``what``."""
    for n in range(retries + 1):
        try:
            return attempt()
        except urllib.error.HTTPError as e:
            if e.code not in RETRY_STATUS or n == retries:
                raise SyncError(f"{what}: HTTP {e.code} {e.reason}") from e
            error: BaseException = e
        except TRANSIENT as e:
            if n == retries:
                raise SyncError(f"{what}: {e} (after {retries + 1} attempts)") from e
            error = e
        delay = min(MAX_BACKOFF, backoff * 2**n)
        log.info("%s: %s; retrying in %.1fs", what, error, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")


def get_text(url: str, retries: int, backoff: float, timeout: float = 60.0) -> str:
    def attempt() -> str:
        with open_url(url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace")

    return retrying(url, attempt, retries, backoff)
