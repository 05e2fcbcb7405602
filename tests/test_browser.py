"""The UI in a real headless Chromium against a real `pubmed-search serve` process.

Uses Debian's /usr/bin/chromium through Playwright (nothing downloads a browser). The
results page is saved to test-artifacts/results.png (desktop) and results-phone.png (390px).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from tests.fixtures.common import REPO, require
from tests.fixtures.web import XSS_PAYLOADS, XSS_PMID, start_server, stop_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def server(xss_index):
    proc, address = start_server(xss_index, "--reload-interval", "0")
    yield address
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


class Watch:
    """Dialogs (alert/confirm/prompt) and console errors seen by a page."""

    def __init__(self, page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def years_shown(page) -> list[int]:
    return [int(t) for t in page.locator("li.result .year").all_inner_texts()]


def test_search_filter_article_similar_and_xss(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(server)
    assert page.title() == "pubmed-search"

    # keyboard: "/" focuses the query box (app.js), then type and submit with Enter
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("asthma airway wheeze")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=asthma"))
    results = page.locator("li.result")
    assert results.count() == 10
    assert page.title() == "asthma airway wheeze — pubmed-search"
    assert page.locator("mark").count() > 0

    # year filter
    page.locator("details.filters summary").first.click()
    page.fill("#year_from", "2005")
    page.fill("#year_to", "2015")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"year_from=2005"))
    years = years_shown(page)
    assert years and all(2005 <= y <= 2015 for y in years)
    page.screenshot(path=str(ARTIFACTS / "results.png"), full_page=True)
    width, height = png_size(ARTIFACTS / "results.png")
    assert width == 1280 and height > 300
    assert (ARTIFACTS / "results.png").stat().st_size > 10_000

    # open an article, then follow a similar article
    first_title = results.first.locator(".result-title").inner_text()
    results.first.get_by_role("link", name="Abstract & details").click()
    page.wait_for_url(re.compile(r"/articles/\d+$"))
    assert page.locator("h1").inner_text() == first_title
    assert page.get_by_role("heading", name="Abstract").count() == 1
    here = page.url
    similar = page.locator("section.similar li.result")
    assert similar.count() > 0
    similar.first.get_by_role("link", name="Abstract & details").click()
    page.wait_for_url(re.compile(r"/articles/\d+$"))
    assert page.url != here and page.locator("h1").count() == 1

    # the XSS article: its title is text, nothing runs
    page.goto(f"{server}articles/{XSS_PMID}")
    assert page.locator("h1").inner_text() == XSS_PAYLOADS["title"]
    assert page.locator("script").count() == 1  # only /static/app.js
    assert page.locator("article img, article svg, article iframe").count() == 0
    page.goto(f"{server}search?q=asthma+airway+wheeze&k=100")
    titles = page.locator("li.result .result-title").all_inner_texts()
    assert XSS_PAYLOADS["title"] in titles
    page.wait_for_timeout(300)
    assert watch.dialogs == []
    assert watch.errors == [], watch.errors  # also: no CSP violation was reported
    context.close()


def test_phone_width(server, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{server}search?q=insulin+glucose&year_from=1990")
    assert page.locator("li.result").count() > 0
    # nothing wider than the screen: no horizontal scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#q").bounding_box()
    assert box is not None and box["width"] > 250
    page.screenshot(path=str(ARTIFACTS / "results-phone.png"), full_page=False)
    width, _ = png_size(ARTIFACTS / "results-phone.png")
    assert width == 780  # 390 CSS pixels at scale 2
    page.goto(f"{server}articles/{XSS_PMID}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert watch.dialogs == [] and watch.errors == []
    context.close()


def test_works_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server)
    page.fill("#q", "stroke thrombolysis")
    page.click("button[type=submit] >> nth=0")
    page.wait_for_url(re.compile(r"q=stroke"))
    assert page.locator("li.result").count() > 0
    page.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("li.result").first.locator("xpath=..").get_attribute("start") == "11"
    context.close()


@pytest.fixture(scope="module")
def bidi_server(bidi_index):
    proc, address = start_server(bidi_index, "--reload-interval", "0")
    yield address
    stop_server(proc)


def test_bidi_override_does_not_reorder_pmid_and_year(bidi_server, browser):
    from tests.fixtures.web import BIDI_PMID

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{bidi_server}search?q=asthma+airway+wheeze&mode=lexical")
    card = page.locator(f"#pmid-{BIDI_PMID}")
    assert card.count() == 1
    # the meta line reads, left to right: authors, journal, year, PMID
    boxes = {
        name: card.locator(sel).bounding_box()
        for name, sel in [
            ("authors", ".authors"),
            ("journal", ".journal"),
            ("year", ".year"),
            ("pmid", ".pmid"),
        ]
    }
    assert boxes["authors"]["x"] < boxes["journal"]["x"] < boxes["year"]["x"] < boxes["pmid"]["x"]
    # and "PMID 990002" itself is not reversed: its "PMID" comes before its digits
    order = card.locator(".pmid").evaluate(
        """e => { const r = document.createRange(), t = e.firstChild;
                  r.setStart(t, 0); r.setEnd(t, 4); const a = r.getBoundingClientRect().x;
                  r.setStart(t, t.length - 1); r.setEnd(t, t.length);
                  return [a, r.getBoundingClientRect().x]; }"""
    )
    assert order[0] < order[1]
    assert card.locator(".year").inner_text() == "2021"
    authors = card.locator(".authors bdi").first
    assert authors.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    title = card.locator(".result-title a")
    assert title.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    page.close()


def test_year_chart_renders_and_facet_links_filter(server, browser):
    """The facets without JavaScript: the inline SVG chart is drawn, a bar click keeps one
    year, a journal click keeps one journal, and nothing trips the CSP."""
    for javascript in (True, False):
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
        )
        page = context.new_page()
        watch = Watch(page)
        page.goto(f"{server}search?q=asthma+airway+wheeze&mode=lexical")
        chart = page.locator("svg.year-chart")
        assert chart.count() == 1
        box = chart.bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 50  # laid out
        bars = page.locator("svg.year-chart a.year-bar")
        assert bars.count() > 1
        bar_box = bars.first.locator("rect.bar").bounding_box()
        assert bar_box is not None and bar_box["height"] >= 1
        year = int(bars.nth(bars.count() // 2).get_attribute("data-year"))
        bars.nth(bars.count() // 2).click()
        page.wait_for_url(re.compile(rf"year_from={year}&year_to={year}"))
        years = years_shown(page)
        assert years and set(years) == {year}
        page.go_back()
        journal = page.locator("aside.facets .facet-values a").first
        name = journal.inner_text()
        journal.click()
        page.wait_for_url(re.compile(r"journal="))
        journals = page.locator("li.result .journal").all_inner_texts()
        assert journals and set(journals) == {name}
        assert page.locator("aside.facets a[aria-current=true]").inner_text() == name
        if javascript:
            page.screenshot(path=str(ARTIFACTS / "facets.png"), full_page=True)
        assert watch.dialogs == [] and watch.errors == [], watch.errors
        context.close()
