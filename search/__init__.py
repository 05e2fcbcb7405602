"""The search layer: dense, lexical and hybrid retrieval over an index directory.

``from search import SearchEngine`` loads the engine (and its indexer dependencies) lazily,
so importing ``search.results`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search.results import (
    MODES,
    Hit,
    ModelMismatchError,
    NotFound,
    SearchError,
    SearchResponse,
    Snippet,
)

if TYPE_CHECKING:
    from search.engine import IndexState, SearchEngine

__all__ = [
    "MODES",
    "Hit",
    "IndexState",
    "ModelMismatchError",
    "NotFound",
    "SearchEngine",
    "SearchError",
    "SearchResponse",
    "Snippet",
]


def __getattr__(name: str) -> Any:
    if name in ("SearchEngine", "IndexState"):
        from search import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
