"""The export formats by name: content type, file extension and writer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from web.exports.bibtex import to_bibtex
from web.exports.fields import Hit
from web.exports.medline import to_medline
from web.exports.ris import to_ris
from web.exports.table import to_csv

EXPORTS: dict[str, tuple[str, str, Callable[[Sequence[Hit]], str]]] = {
    "ris": ("application/x-research-info-systems", "ris", to_ris),
    "bibtex": ("application/x-bibtex", "bib", to_bibtex),
    "csv": ("text/csv; charset=utf-8", "csv", to_csv),
    "medline": ("application/nbib; charset=utf-8", "nbib", to_medline),
}


def slug(text: str, limit: int = 50) -> str:
    """A file-name-safe ASCII slug of ``text`` ("results" when nothing is left)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", folded)
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "results")


def export(fmt: str, hits: Sequence[Hit], name: str) -> tuple[str, str, str]:
    """``(body, content_type, filename)`` of ``hits`` in ``fmt`` (a key of :data:`EXPORTS`)."""
    content_type, ext, render = EXPORTS[fmt]
    return render(hits), content_type, f"pubmed-search-{slug(name)}.{ext}"
