"""Facet counts over a whole match set, as PubMed's and Europe PMC's sidebars show them.

One Tantivy aggregation request over every document matching the query (not only the top
k): results by year, and the most frequent journals, MeSH descriptors and publication
types, each ``(value, count)`` with the most frequent first (ties by value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tantivy

FACETS = {"journal": "journal_name", "mesh": "mesh_name", "pubtype": "pubtype_name"}
"""Facet name (the filter it sets) -> the display field it counts."""
TOP_VALUES = 10
MAX_YEARS = 1000


@dataclass(frozen=True)
class Facets:
    """Counts over the match set: ``years`` ascending by year; the others most frequent first."""

    years: list[tuple[int, int]] = field(default_factory=list)
    journal: list[tuple[str, int]] = field(default_factory=list)
    mesh: list[tuple[str, int]] = field(default_factory=list)
    pubtype: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict]]:
        out = {"year": [{"value": y, "count": n} for y, n in self.years]}
        for name in FACETS:
            out[name] = [{"value": v, "count": n} for v, n in getattr(self, name)]
        return out


def _buckets(result: dict, name: str) -> list[tuple]:
    return [(b["key"], int(b["doc_count"])) for b in result.get(name, {}).get("buckets", [])]


def facet_counts(searcher: tantivy.Searcher, query: tantivy.Query, top: int = TOP_VALUES) -> Facets:
    """The :class:`Facets` of every document matching ``query``."""
    aggs = {"year": {"terms": {"field": "year", "size": MAX_YEARS}}}
    for name, fld in FACETS.items():
        aggs[name] = {"terms": {"field": fld, "size": top}}
    result = searcher.aggregate(query, aggs)
    years = sorted((int(y), n) for y, n in _buckets(result, "year"))
    tops = {
        name: sorted(((str(v), n) for v, n in _buckets(result, name)), key=lambda x: (-x[1], x[0]))
        for name in FACETS
    }
    return Facets(years=years, **tops)
