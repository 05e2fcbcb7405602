"""A small NCBI E-utilities client (esearch, efetch) on the standard library's urllib.

- Rate limit: NCBI allows 3 requests/s per client, 10/s with an API key (env
  ``NCBI_API_KEY``). :class:`RateLimiter` spaces the *starts* of successive requests (and
  retries) at least ``1/rate`` seconds apart, across threads.
- Every request carries ``tool=pubmed-search`` and, when known, ``email`` (``--email`` or env
  ``NCBI_EMAIL``) and ``api_key``.
- Retries with exponential backoff (``backoff * 2**attempt``, capped) on HTTP 429 and 5xx,
  refused/dropped connections, timeouts, truncated bodies and unparseable XML bodies; a
  ``Retry-After`` header (seconds or an HTTP date) is honoured instead of the backoff.
- An error NCBI states in a response (esearch JSON ``ERROR``/``error``, efetch ``<ERROR>``) or
  another HTTP 4xx raises :class:`EutilsError` at once.
- Responses are parsed safely: JSON with :mod:`json`; XML with lxml, no network, no DTD, no
  entity expansion.
- Base URL: ``base_url`` / env ``PUBMED_SEARCH_EUTILS_URL`` (tests point it at a local fake).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from indexer.errors import PubmedSearchError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ENV_BASE_URL = "PUBMED_SEARCH_EUTILS_URL"
ENV_API_KEY = "NCBI_API_KEY"
ENV_EMAIL = "NCBI_EMAIL"
TOOL = "pubmed-search"
RATE_NO_KEY = 3.0
RATE_WITH_KEY = 10.0
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0
ESEARCH_MAX_IDS = 9999  # PubMed esearch returns at most the first 9,999 (retstart <= 9998)
DEFAULT_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)


class EutilsError(PubmedSearchError, RuntimeError):
    """NCBI refused a request, reported an error, or kept failing after every retry."""


class _Transient(Exception):
    """A response body that is not usable (truncated, unparseable): worth another try."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class RateLimiter:
    """Start at most ``rate`` operations per second: each :meth:`wait` returns no sooner than
    ``1/rate`` s after the previous one returned. Thread-safe."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            while now < self._next:
                self._sleep(self._next - now)
                now = self._clock()
            self._next = now + self.interval


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


@dataclass
class EsearchResult:
    count: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class EfetchResult:
    articles: list[tuple[str, bytes]]  # (pmid, serialised <PubmedArticle> element)
    doctype: str


@dataclass
class EutilsClient:
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    email: str | None = None
    tool: str = TOOL
    rate: float | None = None  # None: 3/s, or 10/s with an API key
    max_retries: int = 8
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        rate = self.rate or (RATE_WITH_KEY if self.api_key else RATE_NO_KEY)
        self.limiter = RateLimiter(rate, clock=self.clock, sleep=self.sleep)
        self._opener = urllib.request.build_opener()
        self._opener.addheaders = [("User-Agent", f"{TOOL}/0.1 (urllib)")]

    @classmethod
    def from_env(cls, **overrides: Any) -> EutilsClient:
        """Base URL, API key and e-mail from the environment unless given (None = unset)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        given.setdefault("base_url", os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
        given.setdefault("api_key", os.environ.get(ENV_API_KEY) or None)
        given.setdefault("email", os.environ.get(ENV_EMAIL) or None)
        return cls(**given)

    # transport -----------------------------------------------------------------------------
    def _params(self, params: Mapping[str, Any]) -> dict[str, str]:
        out = {k: str(v) for k, v in params.items() if v is not None}
        out["tool"] = self.tool
        if self.email:
            out["email"] = self.email
        if self.api_key:
            out["api_key"] = self.api_key
        return out

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, self.max_backoff)

    def request(
        self,
        utility: str,
        params: Mapping[str, Any],
        post: bool = False,
        parse: Callable[[bytes], Any] = lambda body: body,
    ) -> Any:
        """GET (or POST) ``base_url + utility`` with retries; returns ``parse(body)``.

        ``parse`` raises :class:`_Transient` for a body worth fetching again and
        :class:`EutilsError` for an error NCBI reports.
        """
        data = urllib.parse.urlencode(self._params(params))
        url = urllib.parse.urljoin(self.base_url, utility)
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if post:
                req = urllib.request.Request(url, data=data.encode("ascii"), method="POST")
                req.add_header("Content-Type", "application/x-www-form-urlencoded")
            else:
                req = urllib.request.Request(f"{url}?{data}")
            delay: float | None = None
            self.limiter.wait()
            try:
                with self._opener.open(req, timeout=self.timeout) as resp:
                    body = resp.read()
                return parse(body)
            except urllib.error.HTTPError as e:
                try:
                    err_body = e.read()
                except (OSError, http.client.HTTPException):
                    err_body = b""
                if e.code not in RETRY_STATUS:
                    message = _error_message(err_body) or str(e.reason)
                    raise EutilsError(f"{utility}: HTTP {e.code}: {message}") from e
                last = f"HTTP {e.code}"
                delay = retry_after_seconds(e.headers.get("Retry-After"))
            except _Transient as e:
                last = f"unusable response: {e}"
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                # refused / reset / dropped connections, timeouts, truncated bodies
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt) if delay is None else delay
            log.warning(
                "%s: %s; retry %d/%d in %.1fs", utility, last, attempt + 1, self.max_retries, delay
            )
            self.sleep(delay)
        raise EutilsError(f"{utility}: giving up after {self.max_retries + 1} attempts ({last})")

    # utilities -----------------------------------------------------------------------------
    def esearch(
        self,
        term: str,
        retmax: int = ESEARCH_MAX_IDS,
        retstart: int = 0,
        mindate: str | None = None,
        maxdate: str | None = None,
        datetype: str = "pdat",
    ) -> EsearchResult:
        """PubMed ids matching ``term`` (``retmax`` of them from ``retstart``) and the count."""
        params: dict[str, Any] = {
            "db": "pubmed",
            "term": term,
            "retmode": "json",
            "retmax": retmax,
            "retstart": retstart,
        }
        if mindate or maxdate:
            params.update(mindate=mindate, maxdate=maxdate, datetype=datetype)
        return self.request("esearch.fcgi", params, post=len(term) > 1000, parse=parse_esearch)

    def efetch_pubmed(self, pmids: Sequence[str]) -> EfetchResult:
        """The PubMed XML records of ``pmids`` (POST, so long id lists are fine)."""
        params = {"db": "pubmed", "id": ",".join(pmids), "retmode": "xml"}
        return self.request("efetch.fcgi", params, post=True, parse=parse_efetch)


def _error_message(body: bytes) -> str | None:
    """An error message NCBI put in a JSON or XML error body, if any."""
    text = body.strip()
    if not text:
        return None
    if text[:1] == b"{":
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        result = obj.get("esearchresult") if isinstance(obj, dict) else None
        msg = (obj.get("error") or obj.get("ERROR")) if isinstance(obj, dict) else None
        if not msg and isinstance(result, dict):
            msg = result.get("ERROR") or result.get("error")
        return str(msg) if msg else None
    if text[:1] == b"<":
        try:
            root = etree.fromstring(text, _parser())
        except etree.XMLSyntaxError:
            return None
        errors = [e.text.strip() for e in root.iter("ERROR") if e.text and e.text.strip()]
        return "; ".join(errors) or None
    return None


def parse_esearch(body: bytes) -> EsearchResult:
    try:
        obj = json.loads(body)
    except ValueError as e:
        raise _Transient(f"esearch: not JSON ({e})") from e
    if not isinstance(obj, dict):
        raise _Transient("esearch: not a JSON object")
    message = _error_message(body)
    if message:
        raise EutilsError(f"esearch: NCBI error: {message}")
    result = obj.get("esearchresult")
    if not isinstance(result, dict) or "count" not in result:
        raise _Transient("esearch: no esearchresult in the response")
    warnings = []
    for key in ("warninglist", "errorlist"):
        for name, values in (result.get(key) or {}).items():
            if values:
                warnings.append(f"{name}: {', '.join(map(str, values))}")
    try:
        ids = [str(int(i)) for i in result.get("idlist", [])]
        count = int(result["count"])
    except (TypeError, ValueError) as e:
        raise EutilsError(f"esearch: malformed response ({e})") from e
    return EsearchResult(count, ids, result.get("webenv"), result.get("querykey"), warnings)


def parse_efetch(body: bytes) -> EfetchResult:
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        raise _Transient(f"efetch: XML does not parse ({e})") from e
    if root.tag != "PubmedArticleSet":
        message = _error_message(body) or f"unexpected root element <{root.tag}>"
        raise EutilsError(f"efetch: NCBI error: {message}")
    doctype = root.getroottree().docinfo.doctype or DEFAULT_DOCTYPE
    articles: list[tuple[str, bytes]] = []
    for el in root:
        if el.tag not in ("PubmedArticle", "PubmedBookArticle"):
            continue
        pmid = el.findtext("MedlineCitation/PMID") or el.findtext("BookDocument/PMID") or ""
        articles.append((pmid.strip(), etree.tostring(el, encoding="UTF-8", with_tail=False)))
    return EfetchResult(articles, doctype)
