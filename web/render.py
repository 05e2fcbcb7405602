"""Template helpers: safe highlighting, outbound URLs, pagination, example queries, the
facets' year chart.

Article text is untrusted. It reaches HTML only through Jinja's autoescape or through
:func:`highlight`, which escapes every piece of text itself and adds nothing but ``<mark>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from search.params import FALSE_WORDS, MAX_DEPTH, MAX_PAGE, PARAM, TRUE_WORDS

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
SYNTAX_LABELS = {"pubmed": "PubMed syntax"}
"""The search form's toggle of each non-default syntax (``search.params.SYNTAXES``)."""
SYNTAX_EXAMPLES = (
    "asthma[ti] AND 2015:2024[dp]",
    '"heart failure"[tiab] AND Review[pt]',
    "diabetes[mh] NOT insulin*",
)
FACET_LABELS = {
    "journal": ("Journals", "Any journal"),
    "mesh": ("MeSH descriptors", "Any MeSH descriptor"),
    "pubtype": ("Publication types", "Any publication type"),
}
"""The facet lists the results page shows, in order (heading, the link that clears the
filter): each facet name is the filter its values set."""


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


CHART_WIDTH, CHART_HEIGHT = 240, 112
CHART_TOP, CHART_BOTTOM, CHART_LEFT, CHART_RIGHT = 12, 18, 2, 2
MAX_CHART_SPAN = 150
"""Years from the first to the last: up to this span the chart keeps gaps for years without
articles; beyond it the years with articles stand side by side."""


@dataclass(frozen=True)
class Bar:
    year: int
    count: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return f"{self.year}: {self.count:,} article{'' if self.count == 1 else 's'}"


def year_chart(years: Sequence[Mapping[str, int]]) -> dict[str, Any] | None:
    """The geometry of the "Results by year" bar chart (SVG user units): one bar per year
    with articles, its height proportional to its count; None when there is no year.

    ``years``: the facets' ``year`` list (``{"value", "count"}``, ascending by year).
    """
    counts = [(int(y["value"]), int(y["count"])) for y in years if int(y["count"]) > 0]
    if not counts:
        return None
    first, last = counts[0][0], counts[-1][0]
    gaps = last - first < MAX_CHART_SPAN
    slots = last - first + 1 if gaps else len(counts)
    top = max(n for _, n in counts)
    inner_w = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    inner_h = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = inner_w / slots
    gap = slot * 0.15 if slot >= 3 else 0.0
    bars = []
    for i, (year, count) in enumerate(counts):
        height = max(1.0, inner_h * count / top)
        index = year - first if gaps else i
        bars.append(
            Bar(
                year=year,
                count=count,
                x=round(CHART_LEFT + index * slot + gap / 2, 2),
                y=round(CHART_TOP + inner_h - height, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=round(height, 2),
            )
        )
    total = sum(n for _, n in counts)
    summary = ", ".join(b.label for b in bars)
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline": CHART_HEIGHT - CHART_BOTTOM,
        "first": first,
        "last": last,
        "top": top,
        "total": total,
        "summary": f"Results by year, {first} to {last}: {summary}.",
        "label_y": CHART_HEIGHT - 5,
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
    app.add_template_global(FALSE_WORDS, "false_words")
    app.add_template_global(SYNTAX_LABELS, "syntax_labels")
    app.add_template_global(SYNTAX_EXAMPLES, "syntax_examples")
    app.add_template_global(FACET_LABELS, "facet_labels")
    app.add_template_global(year_chart, "year_chart")
