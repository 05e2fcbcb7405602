"""Validation of search arguments: every error is an InvalidParameter (a ValueError, HTTP 400,
exit 2) whose message starts with the parameter's name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from indexer.errors import InvalidParameter
from indexer.filters import Filters

MAX_K = 100
MAX_QUERY_CHARS = 1000
MAX_NPROBE = 65_536
"""Upper bound of ``nprobe`` (the most IVF lists an index built here has); the index itself
caps it at its ``nlist`` (every list probed: an exhaustive IVF search)."""
MAX_EF_SEARCH = 4096
"""Upper bound of ``ef_search``: the cap a filtered HNSW search grows its breadth to."""


def check_query(query: object) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("query: must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidParameter(f"query: at most {MAX_QUERY_CHARS} characters, got {len(query)}")
    return query.strip()


def check_page(k: object, page: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k: must be an integer from 1 to {MAX_K}, got {k!r}")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidParameter(f"page: must be an integer >= 1, got {page!r}")


def check_weights(weights: Sequence[float] | Mapping[str, float] | None) -> list[float]:
    """(dense, lexical) fusion weights from a pair or a {"dense":, "lexical":} mapping."""
    if weights is None:
        return [1.0, 1.0]
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
    return out


def check_filters(filters: Filters | None) -> Filters | None:
    if filters is None:
        return None
    if not isinstance(filters, Filters):
        raise InvalidParameter(f"filters: expected indexer.filters.Filters, got {type(filters)!r}")
    return None if filters.is_empty() else filters


def check_knobs(nprobe: object, ef_search: object) -> dict[str, int | None]:
    """Per-query index knobs, validated (None: the index's own setting)."""
    bounds = (("nprobe", nprobe, MAX_NPROBE), ("ef_search", ef_search, MAX_EF_SEARCH))
    for name, value, top in bounds:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top
        ):
            raise InvalidParameter(f"{name}: must be an integer from 1 to {top}, got {value!r}")
    return {"nprobe": nprobe, "ef_search": ef_search}  # type: ignore[dict-item]
