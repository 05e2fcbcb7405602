"""The parts of a citation: abstract sections, MeSH, authors, grants, chemicals, dates, links.

Every part is a frozen dataclass of plain values (strings, ints, bools, tuples of parts), so
records compare by value and hash. Each has ``to_dict`` / ``from_dict``, exact inverses also
after a JSON round trip (tuples travel as lists).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """One AbstractText block: its Label / NlmCategory (None when unlabelled) and plain text.

    ``text`` is empty for a label-only block (PubMed keeps a few: a heading with no text).
    """

    text: str
    label: str | None = None
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "category": self.category}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Section:
        return cls(d.get("text") or "", d.get("label"), d.get("category"))


@dataclass(frozen=True, slots=True)
class MeshQualifier:
    """A MeSH qualifier (subheading) of a descriptor: name, UI (``Q000097``), its own major flag."""

    name: str
    ui: str | None = None
    major: bool = False


@dataclass(frozen=True, slots=True)
class MeshTerm:
    """A MeSH heading: descriptor name, unique identifier (``D000001``) and qualifiers.

    ``major`` is what PubMed's ``[majr]`` searches: the descriptor or any of its qualifiers is
    a major topic. ``descriptor_major`` is the descriptor's own ``MajorTopicYN`` (None: not
    known, e.g. an older JSONL record; read it as ``major`` when no qualifier is major).
    """

    name: str
    ui: str | None = None
    major: bool = False
    qualifiers: tuple[MeshQualifier, ...] = ()
    descriptor_major: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ui": self.ui,
            "major": self.major,
            "qualifiers": [asdict(q) for q in self.qualifiers],
            "descriptor_major": self.descriptor_major,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeshTerm:
        return cls(
            d["name"],
            d.get("ui"),
            bool(d.get("major")),
            tuple(MeshQualifier(**q) for q in d.get("qualifiers") or ()),
            d.get("descriptor_major"),
        )


@dataclass(frozen=True, slots=True)
class AuthorDetail:
    """What PubMed gives about one author beyond the display string in ``Article.authors``.

    Names as given (``collective`` for a CollectiveName author), affiliations in order, and
    the ORCID iD in its bare form (``0000-0002-1825-0097``) when the record carries one.
    """

    last_name: str = ""
    fore_name: str = ""
    initials: str = ""
    collective: str = ""
    affiliations: tuple[str, ...] = ()
    orcid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["affiliations"] = list(self.affiliations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuthorDetail:
        return cls(
            d.get("last_name") or "",
            d.get("fore_name") or "",
            d.get("initials") or "",
            d.get("collective") or "",
            tuple(d.get("affiliations") or ()),
            d.get("orcid"),
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """A GrantList/Grant: identifier, acronym, agency and country (each optional)."""

    grant_id: str | None = None
    acronym: str | None = None
    agency: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Chemical:
    """A ChemicalList/Chemical: NameOfSubstance, its UI and the RegistryNumber (``"0"``: none)."""

    name: str
    ui: str | None = None
    registry_number: str | None = None


@dataclass(frozen=True, slots=True)
class CommentCorrection:
    """A CommentsCorrections link: RefType (``RetractionIn``, ``ErratumFor``...), the linked
    PMID when given, and the RefSource citation text."""

    ref_type: str
    pmid: int | None = None
    ref_source: str = ""


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True, slots=True)
class PubDate:
    """JournalIssue/PubDate as far as given: year, month (1-12), day, Season, or MedlineDate.

    ``medline_date`` keeps the free text of a ``<MedlineDate>`` (``"1998 Dec-1999 Jan"``);
    ``Article.year`` is derived from it when there is no Year.
    """

    year: int | None = None
    month: int | None = None
    day: int | None = None
    season: str | None = None
    medline_date: str | None = None

    def display(self) -> str | None:
        """As PubMed shows it: ``2018 May 17``, ``2018 Spring``, ``1998 Dec-1999 Jan``."""
        if self.medline_date:
            return self.medline_date
        if self.year is None:
            return None
        parts = [str(self.year)]
        if self.month is not None:
            parts.append(MONTHS[self.month - 1].capitalize())
            if self.day is not None:
                parts.append(str(self.day))
        elif self.season:
            parts.append(self.season)
        return " ".join(parts)

    def iso(self) -> str | None:
        """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, as far as known (None without a year)."""
        if self.year is None:
            return None
        out = f"{self.year:04d}"
        if self.month is not None:
            out += f"-{self.month:02d}"
            if self.day is not None:
                out += f"-{self.day:02d}"
        return out
