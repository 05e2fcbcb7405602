"""Plain data records passed between the readers, the store and the search layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """One AbstractText block: its Label / NlmCategory (None when unlabelled) and plain text."""

    text: str
    label: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class MeshTerm:
    """A MeSH descriptor: name, unique identifier (``D000001``) and major-topic flag."""

    name: str
    ui: str | None = None
    major: bool = False


@dataclass(slots=True)
class Article:
    """One citation as read from PubMed XML or JSONL.

    ``pmid`` is a positive integer; ``version`` is PubMed's PMID Version (1 unless revised).
    ``authors`` are display strings ("Smith JA", or a collective name).
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
    language: str = ""
    doi: str | None = None

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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["abstract"] = self.abstract
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Article:
        """Inverse of :meth:`to_dict` (extra keys such as ``abstract`` are ignored)."""
        return cls(
            pmid=int(d["pmid"]),
            version=int(d.get("version") or 1),
            title=d.get("title") or "",
            sections=[Section(**s) for s in d.get("sections") or []],
            journal=d.get("journal") or "",
            journal_iso=d.get("journal_iso") or "",
            year=d.get("year"),
            authors=list(d.get("authors") or []),
            mesh=[MeshTerm(**m) for m in d.get("mesh") or []],
            publication_types=list(d.get("publication_types") or []),
            keywords=list(d.get("keywords") or []),
            language=d.get("language") or "",
            doi=d.get("doi"),
        )


@dataclass(frozen=True, slots=True)
class Deletion:
    """A DeleteCitation entry from a PubMed update file."""

    pmid: int


Record = Article | Deletion
