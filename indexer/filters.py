"""Search filters, applied by the store (metadata) and honoured by every search mode; and
the longest query text a search takes."""

from __future__ import annotations

from dataclasses import dataclass, fields

MAX_QUERY_CHARS = 1000
"""The longest query (characters) anyone searches: the store tokenizes no more, and the search
layer declares its ``q`` parameter with this bound (``search.params``)."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Combinable filters (all given ones must hold).

    - ``year_from`` / ``year_to``: inclusive publication-year range.
    - ``journal``: journal title or ISO abbreviation, case-insensitive exact match.
    - ``mesh``: MeSH descriptor name (case-insensitive) or UI such as ``D001249``.
    - ``pubtype``: publication type, case-insensitive exact match (e.g. "Review").
    - ``has_abstract``: True for articles with an abstract, False for those without.
    - ``exclude_retracted``: True leaves retracted articles out (``search.retractions``).
    """

    year_from: int | None = None
    year_to: int | None = None
    journal: str | None = None
    mesh: str | None = None
    pubtype: str | None = None
    has_abstract: bool | None = None
    exclude_retracted: bool | None = None

    def is_empty(self) -> bool:
        """No filter given (``exclude_retracted=False`` is no filter either)."""
        return all(
            getattr(self, f.name) in (None, "")
            or (f.name == "exclude_retracted" and not self.exclude_retracted)
            for f in fields(self)
        )

    def as_dict(self) -> dict:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }
