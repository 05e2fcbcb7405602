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
from search.params import (
    ANY_WORDS,
    FALSE_WORDS,
    MAX_DEPTH,
    PARAM,
    TRUE_WORDS,
    Param,
    names_of,
    params_of,
)

PAGE_PARAMS = names_of("search", "page")
FILTER_PARAMS = names_of("search", "filter")
KNOB_PARAMS = names_of("search", "knob")
"""Per-query FAISS knobs: IVF lists probed, HNSW search breadth (no effect on other types)."""
SEARCH_PARAMS = names_of("search")
SIMILAR_PARAMS = names_of("similar")
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
    mode: str = PARAM["mode"].default
    syntax: str = PARAM["syntax"].default  # plain words, or a PubMed-style expression
    facets: bool = PARAM["facets"].default  # also count the match set by year, journal, ...
    k: int = PARAM["k"].default
    page: int = PARAM["page"].default
    format: str = PARAM["format"].default
    filters: Filters = field(default_factory=Filters)
    prf: bool = PARAM["prf"].default  # pseudo-relevance feedback (a second, expanded pass)
    rerank: bool = PARAM["rerank"].default  # re-rank the top candidates with the cross-encoder
    nprobe: int | None = None  # IVF lists to probe (None: the index's own setting)
    ef_search: int | None = None  # HNSW search breadth (None: the index's own setting)
    passages: bool = PARAM["passages"].default  # each result with its best passage
    by: str = PARAM["by"].default  # similar by text, citations or both

    def query_args(
        self, *, facets_default: bool = PARAM["facets"].default, **changes: Any
    ) -> dict[str, Any]:
        """The non-default parameters as URL query arguments (for pagination and exports).

        ``facets_default``: the default of the page the links lead to (the API's is off, the
        web UI's on), so ``facets`` is written only when it differs. A change to ``None``
        drops the argument.
        """
        f = self.filters
        has_abstract = None if f.has_abstract is None else str(f.has_abstract).lower()
        args: dict[str, Any] = {
            "q": self.q or None,
            "mode": None if self.mode == PARAM["mode"].default else self.mode,
            "syntax": None if self.syntax == PARAM["syntax"].default else self.syntax,
            "facets": None if self.facets == facets_default else ("1" if self.facets else "0"),
            "prf": "1" if self.prf else None,
            "rerank": "1" if self.rerank else None,
            "k": None if self.k == PARAM["k"].default else self.k,
            "page": None if self.page == 1 else self.page,
            "format": None if self.format == "json" else self.format,
            "passages": "1" if self.passages else None,
            "by": None if self.by == PARAM["by"].default else self.by,
            "year_from": f.year_from,
            "year_to": f.year_to,
            "journal": f.journal,
            "mesh": f.mesh,
            "pubtype": f.pubtype,
            "has_abstract": has_abstract,
            "exclude_retracted": "true" if f.exclude_retracted else None,
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
        if text in ANY_WORDS:
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise ParamError(param, f"must be true or false, got {_show(value)}")


def parse_choice(value: Any, param: str, choices: tuple[str, ...], default: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise ParamError(param, f"must be one of {', '.join(choices)}; got {_show(value)}")


def parse_value(param: Param, value: Any) -> Any:
    """One declared parameter's value (its default when absent or blank)."""
    if param.kind == "text":
        assert param.max_chars is not None
        text = clean_text(value, param.name, param.max_chars)
        return param.default if text is None else text
    if param.kind == "int":
        assert param.minimum is not None and param.maximum is not None
        return parse_int(value, param.name, param.minimum, param.maximum, param.default)
    if param.kind == "choice":
        return parse_choice(value, param.name, param.choices, param.default)
    parsed = parse_bool(value, param.name)
    return param.default if parsed is None else parsed


def parse_params(
    source: Mapping[str, Any],
    *,
    need_query: bool = True,
    strict: bool = False,
    can_rerank: bool = False,
) -> SearchParams:
    """Validate a search (``need_query``) or similar request.

    ``source`` is a query-string MultiDict (first value of each key) or a decoded JSON
    object; with ``strict`` (JSON bodies) an unknown key is an error, not ignored. Each
    parameter declared for the endpoint (``search.params.PARAMS``) is parsed in declaration
    order, so the first invalid one is the one reported.
    ``can_rerank``: the server has a cross-encoder, so a search may ask for ``rerank``
    (default off); without one, ``rerank=true`` is an error. ``nprobe`` / ``ef_search``
    (optional integers, 1..MAX_NPROBE / 1..MAX_EF_SEARCH) are handed to the engine as they
    are; they only change anything on IVF / HNSW indexes.
    """
    endpoint = "search" if need_query else "similar"
    allowed = SEARCH_PARAMS if need_query else SIMILAR_PARAMS
    if strict:
        unknown = sorted(str(key) for key in source if key not in allowed)
        if unknown:
            raise ParamError(unknown[0], f"unknown parameter (known: {', '.join(allowed)})")
    values: dict[str, Any] = {}
    for param in params_of(endpoint):
        values[param.name] = parse_value(param, source.get(param.name))
        _check_after(param.name, values, can_rerank)
    filters = Filters(**{name: values.pop(name) for name in FILTER_PARAMS})
    return SearchParams(filters=filters, **values)


def _check_after(name: str, values: dict[str, Any], can_rerank: bool) -> None:
    """The checks that involve more than one parameter, or the server, once ``name`` is in."""
    if name == "q" and not values["q"]:
        raise ParamError("q", "the query is missing or empty")
    if name == "rerank" and values["rerank"] and not can_rerank:
        raise ParamError(
            "rerank", "this server has no cross-encoder (start it with serve --rerank MODEL)"
        )
    if name == "page" and values["k"] * values["page"] > MAX_DEPTH:
        k, page = values["k"], values["page"]
        raise ParamError("page", f"page * k must be at most {MAX_DEPTH} (got {page} * {k})")
    if name == "year_to":
        year_from, year_to = values["year_from"], values["year_to"]
        if year_from is not None and year_to is not None and year_from > year_to:
            raise ParamError(
                "year_from", f"year_from ({year_from}) must not be after year_to ({year_to})"
            )


def parse_pmid(text: str) -> int | None:
    """A PMID from a URL path segment, or ``None`` when it cannot be one (-> 404)."""
    if not _PMID.fullmatch(text):
        return None
    pmid = int(text)
    return pmid if 0 < pmid <= MAX_PMID else None
