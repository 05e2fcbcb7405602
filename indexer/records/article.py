"""One citation (:class:`Article`) and a deletion, as read from PubMed XML or JSONL."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from indexer.records.parts import (
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshTerm,
    PubDate,
    Section,
)

ABSTRACT_SOURCES = ("abstract", "other_abstract")
"""``Article.abstract_source``: the record's Abstract, or an English OtherAbstract used as the
abstract because the record has no Abstract."""


@dataclass(slots=True)
class Article:
    """One citation as read from PubMed XML or JSONL.

    ``pmid`` is a positive integer; ``version`` is PubMed's PMID Version (1 unless revised).
    ``authors`` are display strings ("Smith JA", or a collective name); ``author_details`` is
    either empty (not known) or aligned with ``authors``, one :class:`AuthorDetail` each.
    ``year`` is the publication year (PubDate Year, else MedlineDate's, else ArticleDate's);
    ``pub_date`` the PubDate as given. ``article_date`` / ``date_revised`` are ISO dates
    (``YYYY-MM-DD``). ``references`` are the PMIDs the article cites (ReferenceList), in order.
    """

    pmid: int
    version: int = 1
    title: str = ""
    sections: list[Section] = field(default_factory=list)
    journal: str = ""
    journal_iso: str = ""
    year: int | None = None
    authors: list[str] = field(default_factory=list)
    mesh: list[MeshTerm] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    doi: str | None = None
    vernacular_title: str | None = None
    abstract_source: str = "abstract"
    author_details: list[AuthorDetail] = field(default_factory=list)
    issn: str | None = None
    issn_type: str | None = None
    issn_linking: str | None = None
    nlm_unique_id: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pub_date: PubDate | None = None
    article_date: str | None = None
    date_revised: str | None = None
    publication_status: str | None = None
    medline_status: str | None = None
    grants: list[Grant] = field(default_factory=list)
    chemicals: list[Chemical] = field(default_factory=list)
    pmc: str | None = None
    references: list[int] = field(default_factory=list)
    comments_corrections: list[CommentCorrection] = field(default_factory=list)

    @property
    def abstract(self) -> str:
        """The abstract as plain text: sections joined by a blank-free single space."""
        return " ".join(s.text for s in self.sections if s.text)

    @property
    def embeddable(self) -> bool:
        """True when there is any title or abstract text to embed."""
        return bool(self.title.strip() or self.abstract.strip())

    def embed_text(self) -> str:
        """Text the encoder sees: title and abstract (title alone when there is no abstract)."""
        return " ".join(p for p in (self.title.strip(), self.abstract.strip()) if p)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (parts as dicts, tuples as lists), plus ``abstract``."""
        d = asdict(self)
        d["sections"] = [s.to_dict() for s in self.sections]
        d["mesh"] = [m.to_dict() for m in self.mesh]
        d["author_details"] = [x.to_dict() for x in self.author_details]
        d["abstract"] = self.abstract
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Article:
        """Inverse of :meth:`to_dict`, also after JSON (extra keys such as ``abstract`` are
        ignored; missing keys take their defaults)."""
        pd = d.get("pub_date")
        return cls(
            pmid=int(d["pmid"]),
            version=int(d.get("version") or 1),
            title=d.get("title") or "",
            sections=[Section.from_dict(s) for s in d.get("sections") or []],
            journal=d.get("journal") or "",
            journal_iso=d.get("journal_iso") or "",
            year=d.get("year"),
            authors=list(d.get("authors") or []),
            mesh=[MeshTerm.from_dict(m) for m in d.get("mesh") or []],
            publication_types=list(d.get("publication_types") or []),
            keywords=list(d.get("keywords") or []),
            languages=list(d.get("languages") or []),
            doi=d.get("doi"),
            vernacular_title=d.get("vernacular_title"),
            abstract_source=d.get("abstract_source") or "abstract",
            author_details=[AuthorDetail.from_dict(x) for x in d.get("author_details") or []],
            issn=d.get("issn"),
            issn_type=d.get("issn_type"),
            issn_linking=d.get("issn_linking"),
            nlm_unique_id=d.get("nlm_unique_id"),
            volume=d.get("volume"),
            issue=d.get("issue"),
            pages=d.get("pages"),
            pub_date=None if pd is None else PubDate(**pd),
            article_date=d.get("article_date"),
            date_revised=d.get("date_revised"),
            publication_status=d.get("publication_status"),
            medline_status=d.get("medline_status"),
            grants=[Grant(**g) for g in d.get("grants") or []],
            chemicals=[Chemical(**c) for c in d.get("chemicals") or []],
            pmc=d.get("pmc"),
            references=[int(p) for p in d.get("references") or []],
            comments_corrections=[
                CommentCorrection(**c) for c in d.get("comments_corrections") or []
            ],
        )


@dataclass(frozen=True, slots=True)
class Deletion:
    """A DeleteCitation entry from a PubMed update file."""

    pmid: int


Record = Article | Deletion
