"""Bidi spoofing: every untrusted field the UI renders is inside a bidi-isolating element."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.fixtures.web import BIDI_PMID, RLO


class _Isolation(HTMLParser):
    """Text runs holding RLO, each with whether an enclosing element isolates it."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # does this open element isolate?
        self.runs: list[tuple[str, bool]] = []
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        if tag in self.VOID:
            return
        self.stack.append(tag == "bdi" or dict(attrs).get("dir") == "auto")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if RLO in data and not self.in_head:  # <title> is plain text: no markup possible
            self.runs.append((data, any(self.stack)))


def _runs(html: str) -> list[tuple[str, bool]]:
    p = _Isolation()
    p.feed(html)
    return p.runs


@pytest.fixture
def bidi_client(bidi_index: Path):
    from web import create_app

    app = create_app({"INDEX_DIR": str(bidi_index), "RELOAD_INTERVAL": 0})
    return app.test_client()


@pytest.mark.parametrize(
    "url",
    [
        "/search?q=asthma+airway+wheeze&mode=lexical",
        f"/articles/{BIDI_PMID}",
        f"/articles/{BIDI_PMID}/similar",
    ],
)
def test_every_untrusted_field_is_isolated(bidi_client, url: str) -> None:
    resp = bidi_client.get(url)
    assert resp.status_code == 200
    runs = _runs(resp.get_data(as_text=True))
    assert runs, "the bidi article is not on the page"
    loose = [text for text, isolated in runs if not isolated]
    assert not loose, f"not isolated: {loose!r}"


def test_article_page_shows_every_field(bidi_client) -> None:
    html = bidi_client.get(f"/articles/{BIDI_PMID}").get_data(as_text=True)
    texts = " ".join(t for t, _ in _runs(html))
    for part in ("airway wheeze", "Evil", "Plain", "Bidi", "M", "Article", "ng", "10.1000/"):
        assert part in texts
    # the complete citation (#17): each new field on the page, isolated (the test above)
    for part in (
        "Vernaculaire", "Aff", "Two", "therapy", "onide", "Agency", "78", "1876", "4406",
        "5562", "123",
    ):  # fmt: skip
        assert part in texts, part
    assert html.count(f"Univ {RLO}Aff") == 1  # a shared affiliation is listed once


def test_isolation_css() -> None:
    css = (Path(__file__).parents[1] / "web/static/style.css").read_text()
    assert 'bdi, [dir="auto"] { unicode-bidi: isolate; }' in css
