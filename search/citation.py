"""A Vancouver (NLM) citation string, as PubMed's "Cite" gives it, from whatever fields a
record has. INCOMPLETE HOOK: not yet in any result.

``Authors. Title. Journal ISO abbreviation. Year;Volume(Issue):Pages. doi: DOI. PMID: N.``
Up to six authors, then "et al.". The record today stores no volume, issue or pages, so the
``Volume(Issue):Pages`` part is left out until the complete-record work stores them (read
here as the keys ``volume``, ``issue``, ``pages`` of the article dict, when present); only
then can results carry a ``citation`` field that equals PubMed's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_AUTHORS = 6


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if not text or text[-1] in ".?!" else text + "."


def _source(record: Mapping[str, Any]) -> str:
    """``Year;Volume(Issue):Pages`` with the parts the record has."""
    year = record.get("year")
    volume, issue, pages = (record.get(k) for k in ("volume", "issue", "pages"))
    where = str(volume or "")
    if issue:
        where += f"({issue})"
    if pages:
        where += f":{pages}"
    if year and where:
        return f"{year};{where}."
    return f"{year or where}." if (year or where) else ""


def vancouver(record: Mapping[str, Any]) -> str:
    """The citation of ``record`` (an article dict as ``GET /api/articles/{pmid}`` returns)."""
    authors = [str(a) for a in record.get("authors") or []]
    names = ", ".join(authors[:MAX_AUTHORS]) + (", et al." if len(authors) > MAX_AUTHORS else "")
    parts = [
        _sentence(names) if names else "",
        _sentence(record.get("title") or ""),
        _sentence(record.get("journal_iso") or record.get("journal") or ""),
        _source(record),
        f"doi: {record['doi']}." if record.get("doi") else "",
        f"PMID: {record['pmid']}." if record.get("pmid") else "",
    ]
    return " ".join(p for p in parts if p)
