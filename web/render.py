"""Template helpers: safe highlighting, outbound URLs, pagination, example queries.

Article text is untrusted. It reaches HTML only through Jinja's autoescape or through
:func:`highlight`, which escapes every piece of text itself and adds nothing but ``<mark>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from search.params import MAX_DEPTH, MAX_PAGE, PARAM, TRUE_WORDS

EXAMPLE_QUERIES = (
    "inhaled corticosteroids for asthma exacerbations",
    "metformin and glucose control in type 2 diabetes",
    "thrombolysis after acute ischaemic stroke",
    "antibiotic resistance in staphylococcus",
)
MAX_AUTHORS_SHOWN = 6
MODE_LABELS = {
    "hybrid": "Hybrid (semantic + keywords)",
    "dense": "Semantic",
    "lexical": "Keywords (BM25)",
}
"""How the search form names the declared modes (a mode without a label shows its name)."""


def page_sizes() -> list[str]:
    """The form's "per page" choices: the default, 20, 50 and the most the declaration
    allows (within its bounds)."""
    k = PARAM["k"]
    assert k.minimum is not None and k.maximum is not None
    sizes = {k.default, 20, 50, k.maximum}
    return [str(n) for n in sorted(sizes) if k.minimum <= n <= k.maximum]


def highlight(text: str, spans: Iterable[Sequence[int]]) -> Markup:
    """``text`` escaped, with the ``[start, end)`` spans wrapped in ``<mark>``.

    Spans are clamped to the text and to each other, so bad offsets can garble the marking
    but never the escaping.
    """
    text = str(text or "")
    out: list[Markup] = []
    pos = 0
    for span in sorted((int(s), int(e)) for s, e in spans):
        start, end = max(span[0], pos, 0), min(span[1], len(text))
        if start >= end:
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def doi_url(doi: str | None) -> str | None:
    """https://doi.org/<doi>, percent-encoded so the DOI cannot leave its URL."""
    if not doi:
        return None
    return "https://doi.org/" + quote(doi.strip(), safe="/()._-;:")


def short_authors(authors: Sequence[str]) -> str:
    shown = ", ".join(authors[:MAX_AUTHORS_SHOWN])
    return shown + (", et al." if len(authors) > MAX_AUTHORS_SHOWN else "")


def pagination(page: dict[str, Any]) -> dict[str, Any]:
    """Previous/next pages, and numbered pages around the current one when the total is
    exact (not in hybrid mode, whose total counts full-text matches only)."""
    current, k = page["page"], page["k"]
    last = None
    if page["mode"] != "hybrid" and page["total"] is not None:
        last = max(1, min(MAX_PAGE, MAX_DEPTH // k, -(-page["total"] // k)))
    numbers: list[int] = []
    if last is not None and last > 1:
        numbers = list(range(max(1, current - 3), min(last, current + 3) + 1))
    return {
        "prev": current - 1 if current > 1 else None,
        "next": current + 1 if page["has_next"] else None,
        "numbers": numbers,
        "last": last,
    }


def register(app: Any) -> None:
    app.add_template_filter(highlight, "highlight")
    app.add_template_filter(doi_url, "doi_url")
    app.add_template_filter(short_authors, "short_authors")
    app.add_template_global(MAX_AUTHORS_SHOWN, "short_authors_max")
    app.add_template_global(pagination, "pagination")
    app.add_template_global(EXAMPLE_QUERIES, "example_queries")
    app.add_template_global(PARAM, "search_params")  # bounds, choices, defaults of the form
    app.add_template_global(MODE_LABELS, "mode_labels")
    app.add_template_global(page_sizes(), "page_sizes")
    app.add_template_global(TRUE_WORDS, "true_words")
