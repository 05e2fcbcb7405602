"""The citation record in a real headless Chromium against a real `pubmed-search serve`: the
retraction badge on a result card and the article page, the cited-by and references links
and their pages, and the exclude-retracted filter (``tests/fixtures/citations.py``)."""

from __future__ import annotations

import pytest

from tests.fixtures.web import start_server, stop_server
from tests.test_browser import browser  # noqa: F401  (the shared Chromium fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(citation_versions):
    proc, address = start_server(citation_versions["u1"], "--reload-interval", "0")
    yield address
    stop_server(proc)


def _pmids(page) -> list[int]:
    return [
        int(x.split("-")[1])
        for x in page.locator("li.result").evaluate_all("l => l.map(e => e.id)")
    ]


def test_badge_links_and_filter(server, browser) -> None:  # noqa: F811
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{server}/search?q=budesonide+asthma&mode=lexical")
    card = page.locator("li.result#pmid-101")
    assert card.locator(".badge-retracted").is_visible()
    assert "Retracted" in card.locator(".badge-retracted").inner_text()
    # the article page: badge, notice link, counts
    card.get_by_role("link", name="Abstract & details").click()
    assert page.locator("header .badge-retracted").is_visible()
    assert page.get_by_role("link", name="PMID 110").count() >= 1
    page.get_by_role("link", name="1 article in this index").click()
    assert page.url.endswith("/articles/101/cited-by")
    assert _pmids(page) == [111]
    # references of 111, in its order, then back to cited-by of 102 (newest first)
    page.goto(f"{server}/articles/111/references")
    assert _pmids(page) == [101, 102]
    page.goto(f"{server}/articles/102/cited-by")
    assert _pmids(page) == [111, 104, 101]
    # exclude retracted: the checkbox of the search form
    page.goto(f"{server}/search?q=budesonide+asthma+sepsis&mode=lexical")
    assert 101 in _pmids(page) and 105 in _pmids(page)
    page.locator("details.filters summary").click()
    page.locator("#exclude_retracted").check()
    page.get_by_role("button", name="Apply filters").click()
    shown = _pmids(page)
    assert shown and not {101, 105, 106} & set(shown)
    assert "exclude_retracted=true" in page.url
    assert page.locator("#exclude_retracted").is_checked()
