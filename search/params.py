"""The search parameters, declared once; and the engine's checks of its arguments.

:data:`PARAMS` names every parameter of a search (and of a "similar articles" request): its
kind, default, bounds, choices and help. The rest is derived from it: the engine's checks
below, the API's request parser (``web.params``), the OpenAPI document (``web.openapi``), the
web UI form and the ``pubmed-search query`` options (``pubmed_search.options``).

Engine checks raise an InvalidParameter (a ValueError, HTTP 400, exit 2) whose message
starts with the parameter's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.errors import InvalidParameter
from indexer.filters import MAX_QUERY_CHARS, Filters
from search.results import MODES

DEFAULT_K = 10
MAX_K = 100
MAX_PAGE = 1000
MAX_DEPTH = 10_000
"""``k * page`` may not exceed this in a request: deep pages cost the engine k * page
candidates."""
MAX_FILTER_CHARS = 200
YEAR_MIN, YEAR_MAX = 1, 9999
MAX_NPROBE = 65_536
"""Upper bound of ``nprobe`` (the most IVF lists an index built here has); the index itself
caps it at its ``nlist`` (every list probed: an exhaustive IVF search)."""
MAX_EF_SEARCH = 4096
"""Upper bound of ``ef_search``: the cap a filtered HNSW search grows its breadth to."""
FORMATS = ("json", "ris", "bibtex", "csv", "medline")
SYNTAXES = ("plain", "pubmed")
SIMILAR_BY = ("text", "citations", "both")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
ANY_WORDS = ("", "any")
"""A boolean parameter is one of these words (case-insensitive, surrounding space ignored),
or a JSON boolean; ``ANY_WORDS`` (and absence) leave it unset."""

KINDS = ("text", "int", "choice", "bool")
GROUPS = ("query", "page", "filter", "knob")
ENDPOINTS = ("search", "similar")


@dataclass(frozen=True)
class Param:
    """One search parameter.

    ``kind``: text (``max_chars``), int (``minimum``..``maximum``), choice (``choices``,
    case-insensitive) or bool (:data:`TRUE_WORDS` / :data:`FALSE_WORDS` / :data:`ANY_WORDS`).
    ``endpoints``: the requests that take it. ``cli``: its ``pubmed-search query`` flag(s)
    (None: no such option). ``api_help``: what the API documentation adds to ``help``.
    """

    name: str
    kind: str
    help: str
    group: str
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    max_chars: int | None = None
    required: bool = False
    endpoints: tuple[str, ...] = ENDPOINTS
    cli: str | None = None
    api_help: str = ""

    def __post_init__(self) -> None:
        assert self.kind in KINDS and self.group in GROUPS, self
        assert set(self.endpoints) <= set(ENDPOINTS), self
        assert (self.kind == "int") == (self.minimum is not None), self
        assert (self.kind == "choice") == bool(self.choices), self
        assert (self.kind == "text") == (self.max_chars is not None), self

    @property
    def words(self) -> tuple[str, ...]:
        """The words a choice or bool parameter accepts (lower-case; "" means unset)."""
        if self.kind == "bool":
            return (*TRUE_WORDS, *FALSE_WORDS, *ANY_WORDS)
        if self.kind == "choice":
            return (*self.choices, "")
        return ()


PARAMS: tuple[Param, ...] = (
    Param(
        "q",
        "text",
        "The query: plain words, or a PubMed-style expression with syntax=pubmed.",
        "query",
        max_chars=MAX_QUERY_CHARS,
        required=True,
        endpoints=("search",),
    ),
    Param(
        "mode",
        "choice",
        "dense (embeddings), lexical (BM25) or hybrid (reciprocal rank fusion of both).",
        "query",
        default="hybrid",
        choices=MODES,
        endpoints=("search",),
        cli="--mode",
    ),
    Param(
        "syntax",
        "choice",
        "plain: q is words, never syntax; pubmed: q is a PubMed-style expression (field tags "
        "such as [ti] [mh] [au] [dp], AND OR NOT, parentheses, quoted phrases, trailing *).",
        "query",
        default="plain",
        choices=SYNTAXES,
        endpoints=("search",),
        cli="--syntax",
        api_help="In lexical mode the expression is the query; in dense and hybrid modes it "
        "selects the candidate set exactly and ranking is by meaning within it. A malformed "
        "expression is a 400 that names its position.",
    ),
    Param(
        "facets",
        "bool",
        "Also count the whole match set by year, journal, MeSH descriptor and publication type.",
        "query",
        default=False,
        endpoints=("search",),
        cli="--facets/--no-facets",
    ),
    Param(
        "prf",
        "bool",
        "Pseudo-relevance feedback: search again with the query expanded by the first "
        "pass's top 3 articles (lexical: RM3 terms; dense: Rocchio's vector; hybrid: both). "
        "Off by default: see the README's fusion table.",
        "query",
        default=False,
        endpoints=("search",),
        cli="--prf/--no-prf",
        api_help="The expansion re-ranks the query's own matches: total and facets are those "
        "of the query as typed.",
    ),
    Param(
        "rerank",
        "bool",
        "Re-rank the mode's top candidates with the server's cross-encoder (opt-in).",
        "query",
        default=False,
        endpoints=("search",),
        api_help="/api/health names it as reranker; 400 when the server has none (reranker null).",
    ),
    Param(
        "k",
        "int",
        "Results per page.",
        "page",
        default=DEFAULT_K,
        minimum=1,
        maximum=MAX_K,
        cli="-k",
    ),
    Param(
        "page",
        "int",
        f"1-based page number; page * k may not exceed {MAX_DEPTH}.",
        "page",
        default=1,
        minimum=1,
        maximum=MAX_PAGE,
        cli="--page",
    ),
    Param(
        "format",
        "choice",
        "json, or export the page as RIS, BibTeX, CSV or MEDLINE (.nbib, PubMed's format), "
        "as an attachment.",
        "page",
        default="json",
        choices=FORMATS,
    ),
    Param(
        "passages",
        "bool",
        "Give each result its passage best matching the query: an abstract section or "
        "sentence window of at most 128 tokens of the index's tokenizer, with its [start, end) "
        "character offsets into the stored abstract and its section label.",
        "page",
        default=False,
        cli="--passages/--no-passages",
        api_help="result.passage is null without it (and for articles without an abstract); "
        "abstract[start:end] (GET /api/articles/{pmid}) is the passage text exactly.",
    ),
    Param(
        "year_from",
        "int",
        "Earliest publication year (inclusive).",
        "filter",
        minimum=YEAR_MIN,
        maximum=YEAR_MAX,
        cli="--year-from",
    ),
    Param(
        "year_to",
        "int",
        "Latest publication year (inclusive); not before year_from.",
        "filter",
        minimum=YEAR_MIN,
        maximum=YEAR_MAX,
        cli="--year-to",
    ),
    Param(
        "journal",
        "text",
        "Journal title or ISO abbreviation (case-insensitive exact match).",
        "filter",
        max_chars=MAX_FILTER_CHARS,
        cli="--journal",
    ),
    Param(
        "mesh",
        "text",
        "MeSH descriptor name or UI (e.g. D001249).",
        "filter",
        max_chars=MAX_FILTER_CHARS,
        cli="--mesh",
    ),
    Param(
        "pubtype",
        "text",
        "Publication type, e.g. Review.",
        "filter",
        max_chars=MAX_FILTER_CHARS,
        cli="--pubtype",
    ),
    Param(
        "has_abstract",
        "bool",
        "Only articles with (true) or without (false) an abstract.",
        "filter",
        cli="--has-abstract/--no-abstract",
    ),
    Param(
        "exclude_retracted",
        "bool",
        "Leave out retracted articles (by their own record or a retraction notice).",
        "filter",
        cli="--exclude-retracted/--include-retracted",
    ),
    Param(
        "by",
        "choice",
        "similar by text (the article's vector), citations (links and shared references "
        "within the index) or both (fused).",
        "query",
        default="text",
        choices=SIMILAR_BY,
        endpoints=("similar",),
    ),
    Param(
        "nprobe",
        "int",
        "IVF indexes: inverted lists probed (more: better recall, slower; values above the "
        "index's nlist probe every list). Default: the index's own.",
        "knob",
        minimum=1,
        maximum=MAX_NPROBE,
        cli="--nprobe",
        api_help="/api/health index_type names the index. Accepted and without effect on "
        "other index types (flat, HNSW) and in lexical mode; with filters the index may "
        "probe more.",
    ),
    Param(
        "ef_search",
        "int",
        "HNSW indexes: search breadth, efSearch (more: better recall, slower; never below k). "
        "Default: the index's own.",
        "knob",
        minimum=1,
        maximum=MAX_EF_SEARCH,
        cli="--ef-search",
        api_help="Accepted and without effect on other index types (flat, IVF) and in "
        "lexical mode; with filters the index may widen it.",
    ),
)
PARAM: dict[str, Param] = {p.name: p for p in PARAMS}


def params_of(endpoint: str, group: str | None = None) -> tuple[Param, ...]:
    """The parameters ``endpoint`` ("search" or "similar") takes, in declaration order."""
    assert endpoint in ENDPOINTS, endpoint
    return tuple(p for p in PARAMS if endpoint in p.endpoints and group in (None, p.group))


def names_of(endpoint: str, group: str | None = None) -> tuple[str, ...]:
    return tuple(p.name for p in params_of(endpoint, group))


# --- the engine's checks ----------------------------------------------------------------------


def _in_range(value: object, param: Param) -> bool:
    assert param.minimum is not None
    top = param.maximum if param.maximum is not None else value
    return (
        not isinstance(value, bool) and isinstance(value, int) and param.minimum <= value <= top  # type: ignore[operator]
    )


def check_query(query: object) -> str:
    limit = PARAM["q"].max_chars
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("query: must be a non-empty string")
    if len(query) > limit:  # type: ignore[operator]
        raise InvalidParameter(f"query: at most {limit} characters, got {len(query)}")
    return query.strip()


def check_syntax(syntax: object, query: str) -> str | None:
    """The PubMed-syntax expression of a request (None: plain words)."""
    if syntax not in SYNTAXES:
        raise InvalidParameter(f"syntax: must be one of {', '.join(SYNTAXES)}, got {syntax!r}")
    return query if syntax == "pubmed" else None


def check_page(k: object, page: object) -> None:
    """``k`` within its declared bounds; ``page`` >= 1 (the engine pages deeper than a
    request may: MAX_PAGE / MAX_DEPTH bound requests)."""
    spec = PARAM["k"]
    if not _in_range(k, spec):
        raise InvalidParameter(
            f"k: must be an integer from {spec.minimum} to {spec.maximum}, got {k!r}"
        )
    low = PARAM["page"].minimum
    if isinstance(page, bool) or not isinstance(page, int) or page < low:  # type: ignore[operator]
        raise InvalidParameter(f"page: must be an integer >= {low}, got {page!r}")


def check_weights(
    weights: Sequence[float] | Mapping[str, float] | None,
) -> tuple[float, float] | None:
    """(dense, lexical) fusion weights from a pair or a {"dense":, "lexical":} mapping (a
    missing key: 1); None: none given (the index's recorded fusion applies)."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        unknown = set(weights) - {"dense", "lexical"}
        if unknown:
            raise InvalidParameter(f"weights: unknown keys {sorted(unknown)} (use dense, lexical)")
        pair = [weights.get("dense", 1.0), weights.get("lexical", 1.0)]
    else:
        pair = list(weights)
    if len(pair) != 2:
        raise InvalidParameter(f"weights: expected (dense, lexical), got {weights!r}")
    try:
        out = [float(w) for w in pair]
    except (TypeError, ValueError) as e:
        raise InvalidParameter(f"weights: must be numbers, got {weights!r}") from e
    if any(not (w >= 0) or w == float("inf") for w in out) or sum(out) == 0:
        raise InvalidParameter(f"weights: must be finite, >= 0 and not all 0, got {weights!r}")
    return (out[0], out[1])


def check_choice(name: str, value: object) -> str:
    """``value`` of the declared choice parameter ``name`` (case-insensitive), lower-cased."""
    spec = PARAM[name]
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in spec.choices:
        raise InvalidParameter(f"{name}: must be one of {', '.join(spec.choices)}, got {value!r}")
    return text


def check_filters(filters: Filters | None) -> Filters | None:
    if filters is None:
        return None
    if not isinstance(filters, Filters):
        raise InvalidParameter(f"filters: expected indexer.filters.Filters, got {type(filters)!r}")
    return None if filters.is_empty() else filters


def check_knobs(nprobe: object, ef_search: object) -> dict[str, int | None]:
    """Per-query index knobs, validated (None: the index's own setting)."""
    for name, value in (("nprobe", nprobe), ("ef_search", ef_search)):
        spec = PARAM[name]
        if value is not None and not _in_range(value, spec):
            raise InvalidParameter(
                f"{name}: must be an integer from {spec.minimum} to {spec.maximum}, got {value!r}"
            )
    return {"nprobe": nprobe, "ef_search": ef_search}  # type: ignore[dict-item]
