"""Request parameters of the search and similar endpoints: parsing and validation.

One parser serves the API (query string or JSON body) and the web UI (query string), so a
value the API refuses is refused by the UI with the same message. Every error is a
:class:`ParamError` whose message starts with the parameter's name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from indexer.errors import InvalidParameter
from indexer.filters import Filters
from search.params import MAX_EF_SEARCH, MAX_NPROBE
from search.results import MODES

FORMATS = ("json", "ris", "bibtex", "csv")
DEFAULT_K = 10
MAX_K = 100
MAX_PAGE = 1000
MAX_DEPTH = 10_000
"""``k * page`` may not exceed this: deep pages cost the engine k * page candidates."""
MAX_QUERY_CHARS = 1000
MAX_FILTER_CHARS = 200
YEAR_MIN, YEAR_MAX = 1, 9999
FILTER_TEXT = ("journal", "mesh", "pubtype")
PAGE_PARAMS = ("k", "page", "format")
FILTER_PARAMS = ("year_from", "year_to", *FILTER_TEXT, "has_abstract")
KNOB_PARAMS = ("nprobe", "ef_search")
"""Per-query FAISS knobs: IVF lists probed, HNSW search breadth (no effect on other types)."""
SEARCH_PARAMS = ("q", "mode", "rerank", *PAGE_PARAMS, *FILTER_PARAMS, *KNOB_PARAMS)
SIMILAR_PARAMS = (*PAGE_PARAMS, *FILTER_PARAMS, *KNOB_PARAMS)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_INT = re.compile(r"[+-]?[0-9]{1,12}")
_PMID = re.compile(r"[0-9]{1,10}")
MAX_PMID = 2**31 - 1  # PMIDs are 8 digits today; a 32-bit column holds every one


class ParamError(InvalidParameter):
    """A request parameter is missing or invalid; ``str()`` names the parameter."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(f"{param}: {message}")


@dataclass(frozen=True)
class SearchParams:
    """A validated request: what to search, which page, which filters, which format."""

    q: str = ""
    mode: str = "hybrid"
    k: int = DEFAULT_K
    page: int = 1
    format: str = "json"
    filters: Filters = field(default_factory=Filters)
    rerank: bool = False  # re-score the top candidates with the server's cross-encoder
    nprobe: int | None = None  # IVF lists to probe (None: the index's own setting)
    ef_search: int | None = None  # HNSW search breadth (None: the index's own setting)

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The non-default parameters as URL query arguments (for pagination and exports)."""
        f = self.filters
        has_abstract = None if f.has_abstract is None else str(f.has_abstract).lower()
        args: dict[str, Any] = {
            "q": self.q or None,
            "mode": None if self.mode == "hybrid" else self.mode,
            "rerank": "1" if self.rerank else None,
            "k": None if self.k == DEFAULT_K else self.k,
            "page": None if self.page == 1 else self.page,
            "format": None if self.format == "json" else self.format,
            "year_from": f.year_from,
            "year_to": f.year_to,
            "journal": f.journal,
            "mesh": f.mesh,
            "pubtype": f.pubtype,
            "has_abstract": has_abstract,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
        }
        args.update(changes)
        return {k: v for k, v in args.items() if v is not None}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def clean_text(value: Any, param: str, limit: int) -> str | None:
    """A string parameter: control characters become spaces, surrounding space goes;
    ``None`` when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParamError(param, f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParamError(param, "is not valid Unicode text") from None
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in value).strip()
    if len(text) > limit:
        raise ParamError(param, f"must be at most {limit} characters long (got {len(text)})")
    return text or None


def parse_int(value: Any, param: str, lo: int, hi: int, default: int | None) -> int | None:
    """An integer in ``[lo, hi]`` given as a JSON integer or a decimal string."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ParamError(param, f"must be an integer, got {_show(value)}")
    if isinstance(value, str):
        if not _INT.fullmatch(value.strip()):
            raise ParamError(param, f"must be an integer, got {_show(value)}")
        value = int(value.strip())
    if not lo <= value <= hi:
        raise ParamError(param, f"must be between {lo} and {hi}, got {_show(value)}")
    return value


def parse_bool(value: Any, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "any"):
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ParamError(param, f"must be true or false, got {_show(value)}")


def parse_choice(value: Any, param: str, choices: tuple[str, ...], default: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise ParamError(param, f"must be one of {', '.join(choices)}; got {_show(value)}")


def parse_filters(source: Mapping[str, Any]) -> Filters:
    year_from = parse_int(source.get("year_from"), "year_from", YEAR_MIN, YEAR_MAX, None)
    year_to = parse_int(source.get("year_to"), "year_to", YEAR_MIN, YEAR_MAX, None)
    if year_from is not None and year_to is not None and year_from > year_to:
        raise ParamError(
            "year_from", f"year_from ({year_from}) must not be after year_to ({year_to})"
        )
    text = {p: clean_text(source.get(p), p, MAX_FILTER_CHARS) for p in FILTER_TEXT}
    has_abstract = parse_bool(source.get("has_abstract"), "has_abstract")
    return Filters(year_from=year_from, year_to=year_to, has_abstract=has_abstract, **text)


def parse_params(
    source: Mapping[str, Any],
    *,
    need_query: bool = True,
    strict: bool = False,
    can_rerank: bool = False,
) -> SearchParams:
    """Validate a search (``need_query``) or similar request.

    ``source`` is a query-string MultiDict (first value of each key) or a decoded JSON
    object; with ``strict`` (JSON bodies) an unknown key is an error, not ignored.
    ``can_rerank``: the server has a cross-encoder, so a search may ask for ``rerank``
    (default off); without one, ``rerank=true`` is an error. ``nprobe`` / ``ef_search``
    (optional integers, 1..MAX_NPROBE / 1..MAX_EF_SEARCH) are handed to the engine as they
    are; they only change anything on IVF / HNSW indexes.
    """
    allowed = SEARCH_PARAMS if need_query else SIMILAR_PARAMS
    if strict:
        unknown = sorted(str(key) for key in source if key not in allowed)
        if unknown:
            raise ParamError(unknown[0], f"unknown parameter (known: {', '.join(allowed)})")
    q = ""
    mode = "hybrid"
    rerank = False
    if need_query:
        q = clean_text(source.get("q"), "q", MAX_QUERY_CHARS) or ""
        if not q:
            raise ParamError("q", "the query is missing or empty")
        mode = parse_choice(source.get("mode"), "mode", MODES, "hybrid")
        rerank = bool(parse_bool(source.get("rerank"), "rerank"))
        if rerank and not can_rerank:
            raise ParamError(
                "rerank", "this server has no cross-encoder (start it with serve --rerank MODEL)"
            )
    k = parse_int(source.get("k"), "k", 1, MAX_K, DEFAULT_K)
    page = parse_int(source.get("page"), "page", 1, MAX_PAGE, 1)
    assert k is not None and page is not None
    if k * page > MAX_DEPTH:
        raise ParamError("page", f"page * k must be at most {MAX_DEPTH} (got {page} * {k})")
    fmt = parse_choice(source.get("format"), "format", FORMATS, "json")
    filters = parse_filters(source)
    nprobe = parse_int(source.get("nprobe"), "nprobe", 1, MAX_NPROBE, None)
    ef_search = parse_int(source.get("ef_search"), "ef_search", 1, MAX_EF_SEARCH, None)
    return SearchParams(
        q=q,
        mode=mode,
        k=k,
        page=page,
        format=fmt,
        filters=filters,
        rerank=rerank,
        nprobe=nprobe,
        ef_search=ef_search,
    )


def parse_pmid(text: str) -> int | None:
    """A PMID from a URL path segment, or ``None`` when it cannot be one (-> 404)."""
    if not _PMID.fullmatch(text):
        return None
    pmid = int(text)
    return pmid if 0 < pmid <= MAX_PMID else None
