"""What the search layer returns: plain dataclasses (their one JSON shape: ``search.pages``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from indexer.errors import NotFoundError, PubmedSearchError
from search.retractions import UNMARKED, Mark

if TYPE_CHECKING:
    from indexer.lexical.facets import Facets
    from search.passages import Passage

MODES = ("hybrid", "dense", "lexical")


class SearchError(PubmedSearchError):
    """Base class of the search layer's own errors."""


class NotFound(SearchError, NotFoundError, KeyError):
    """An article (PMID) is not in the index, or has no vector for ``similar``."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class ModelMismatchError(SearchError, ValueError):
    """The model loaded for queries is not the one the index was built with."""


@dataclass(frozen=True, slots=True)
class Snippet:
    """A passage of the abstract; ``highlights`` are ``[start, end)`` offsets into ``text``."""

    text: str
    highlights: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Hit:
    rank: int
    pmid: int
    score: float
    title: str
    journal: str
    year: int | None
    authors: list[str]
    doi: str | None
    mesh: list[str]
    snippet: Snippet
    doc_id: int = -1
    passage: Passage | None = None  # with passages=True: the best-matching passage
    citation: str = ""  # Vancouver, as PubMed's "Cite" (search.citation)
    mark: Mark = UNMARKED  # retracted / expression of concern (search.retractions)
    cited_by: int = 0  # articles of this version whose references cite it


@dataclass(frozen=True, slots=True)
class SearchResponse:
    """One page of results.

    ``total`` is the size of the matching set when it is known: the number of full-text
    matches (lexical *and* hybrid: hybrid's dense side ranks every article, so its own
    "total" would be the whole collection), the filtered set's size (filtered dense), or
    the number of embedded articles (unfiltered dense / similar; minus the article itself).
    Full-text matches are every article holding at least one query term (or matching the
    ``syntax="pubmed"`` expression) and passing the filters: exact at any collection size.
    ``model`` is the query encoder's name ("bm25" for lexical). ``version``: the index
    version that answered; ``filters``: the active filters (``Filters.as_dict()``).
    """

    query: str
    mode: str
    k: int
    page: int
    total: int | None
    took_ms: float
    model: str
    hits: list[Hit]
    version: int = 0
    filters: dict[str, Any] = field(default_factory=dict)
    reranked: bool = False  # the top candidates were re-ranked by a cross-encoder
    rerank_ms: float | None = None  # time of that re-ranking (included in took_ms)
    prf: bool = False  # pseudo-relevance feedback ran a second, expanded pass
    syntax: str = "plain"  # how q was read: plain words, or a PubMed-style expression
    facets: Facets | None = None  # counts over the whole match set, when asked for
