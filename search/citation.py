"""The Vancouver (NLM) citation of an article, as PubMed's "Cite" button gives it.

``Authors. Title. Journal ISO abbreviation. Date;Volume(Issue):Pages. doi: DOI. Epub Date.
PMID: N; PMCID: PMCN.``

Up to six authors, then "et al."; the date as far as the record gives it (``2019 May 3``, a
season, or MedlineDate's text); ``Epub`` with the ArticleDate when the record has one and it
is not the print date. Every part the record lacks is left out.
"""

from __future__ import annotations

from indexer.records import Article, PubDate

MAX_AUTHORS = 6


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if not text or text[-1] in ".?!" else text + "."


def date_text(pd: PubDate | None, year: int | None = None) -> str:
    """``2019 May 3``, ``2019 Spring``, the MedlineDate text, or the year alone."""
    shown = pd.display() if pd is not None else None
    return shown or (str(year) if year is not None else "")


def _epub(a: Article) -> str:
    """``Epub 2019 Mar 5.`` from the ArticleDate (ISO), unless it is the publication date."""
    if not a.article_date:
        return ""
    try:
        y, m, d = (int(x) for x in a.article_date.split("-"))
    except ValueError:
        return ""
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return ""
    epub = PubDate(year=y, month=m, day=d)
    if a.pub_date is not None and (a.pub_date.year, a.pub_date.month, a.pub_date.day) == (y, m, d):
        return ""
    return f"Epub {date_text(epub)}."


def locator(a: Article) -> str:
    """``Volume(Issue):Pages`` with the parts the record has (``378(20):1865-1876``)."""
    where = a.volume or ""
    if a.issue:
        where += f"({a.issue})"
    if a.pages:
        where += f":{a.pages}"
    return where


def source(a: Article) -> str:
    """``Date;Volume(Issue):Pages.`` with the parts the record has."""
    text = ";".join(p for p in (date_text(a.pub_date, a.year), locator(a)) if p)
    return text + "." if text else ""


def vancouver(a: Article) -> str:
    """The citation of ``a``."""
    authors = [" ".join(x.split()) for x in a.authors if x.strip()]
    names = ", ".join(authors[:MAX_AUTHORS]) + (", et al." if len(authors) > MAX_AUTHORS else "")
    ids = f"PMID: {a.pmid}" + (f"; PMCID: {a.pmc}" if a.pmc else "") + "."
    parts = [
        _sentence(names) if names else "",
        _sentence(a.title),
        _sentence(a.journal_iso or a.journal),
        source(a),
        f"doi: {a.doi}." if a.doi else "",
        _epub(a),
        ids,
    ]
    return " ".join(p for p in parts if p)
