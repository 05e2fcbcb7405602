"""The server-rendered UI: pages, filters, pagination, the article page, XSS inertness, headers."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.web import XSS_PAYLOADS, XSS_PMID
from web.render import highlight

STATIC = Path(__file__).resolve().parents[1] / "web" / "static"
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"


class Page(HTMLParser):
    """A parsed page: every start tag with its attributes, plus the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self._in_title = False
        self._in_head = False
        self.title = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_head = self._in_head or tag == "head"
        self._in_title = tag == "title" and self._in_head  # not an SVG <title>

    def handle_endtag(self, tag):
        self._in_title = False
        self._in_head = self._in_head and tag != "head"

    def handle_data(self, data):
        self.text_parts.append(data)
        if self._in_title:
            self.title += data

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]

    def result_pmids(self) -> list[int]:
        return [
            int(a["id"].split("-")[1])
            for a in self.all("li")
            if (a.get("id") or "").startswith("pmid-")
        ]


def page(client, path: str, status: int = 200, **args) -> Page:
    response = client.get(path, query_string=args or None)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


def api(client, path: str, **args) -> dict:
    return client.get(path, query_string=args).get_json()


def assert_inert(p: Page) -> None:
    """No markup from article text became live: only our script, no handlers, no js: URLs."""
    scripts = p.all("script")
    assert scripts == [{"src": "/static/app.js", "defer": None}]
    charts = [a for a in p.all("svg") if a.get("class") == "year-chart"]
    assert len(charts) <= 1 and len(p.all("svg")) == len(charts)  # only our own year chart
    for tag, attrs in p.tags:
        assert tag not in ("img", "iframe", "object", "embed", "foreignobject"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), value


# search page ------------------------------------------------------------------------------


def test_empty_state(client):
    p = page(client, "/")
    assert p.title == "pubmed-search"
    assert "Search biomedical literature by meaning" in p.text
    examples = [a["href"] for a in p.all("a") if "/search?q=" in (a.get("href") or "")]
    assert len(examples) >= 3
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in p.all("meta")
    assert [a["href"] for a in p.all("link") if a.get("rel") == "stylesheet"] == [
        "/static/style.css"
    ]
    health = api(client, "/api/health")
    assert health["model"] in p.text  # the model in use is shown
    assert page(client, "/search").title == "pubmed-search"
    assert page(client, "/search", q="   ").text == p.text


def test_results_are_the_api_results(client):
    args = {"q": "insulin glucose", "k": "7", "mode": "hybrid"}
    p = page(client, "/search", **args)
    result = api(client, "/api/search", **args)
    assert p.title == "insulin glucose — pubmed-search"
    assert p.result_pmids() == [r["pmid"] for r in result["results"]]
    for r in result["results"]:
        assert r["title"] in p.text
        assert f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/" in [a["href"] for a in p.all("a")]
        assert f"https://doi.org/{r['doi']}" in [a["href"] for a in p.all("a")]
        assert f"/articles/{r['pmid']}" in [a["href"] for a in p.all("a")]
        assert f"/articles/{r['pmid']}/similar" in [a["href"] for a in p.all("a")]
    assert "page 1" in p.text and " ms" in p.text
    exports = [a["href"] for a in p.all("a") if "format=" in (a.get("href") or "")]
    assert {re.search(r"format=(\w+)", h).group(1) for h in exports} == {
        *("ris", "bibtex", "csv", "medline")
    }
    assert all(h.startswith("/api/search?") and "q=insulin" in h for h in exports)


def test_snippet_highlights_are_marks(client):
    response = client.get("/search", query_string={"q": "metformin", "mode": "lexical"})
    text = response.get_data(as_text=True)
    marks = re.findall(r"<mark>(.*?)</mark>", text)
    assert marks and {m.lower() for m in marks} == {"metformin"}


@pytest.mark.parametrize(
    ("args", "check"),
    [
        ({"year_from": "2005", "year_to": "2015"}, lambda r: 2005 <= r["year"] <= 2015),
        ({"journal": "BMJ"}, lambda r: r["journal"] == "BMJ"),
        ({"mesh": "Stroke"}, lambda r: r["mesh"][0]["name"] == "Stroke"),
        (
            {"pubtype": "Randomized Controlled Trial"},
            lambda r: r["publication_types"] == ["Randomized Controlled Trial"],
        ),
        ({"has_abstract": "false"}, lambda r: not r["sections"]),
    ],
)
def test_filters_apply(client, tiny_corpus, args, check):
    rows = {r["pmid"]: r for r in tiny_corpus[1]}
    p = page(client, "/search", q="study patients", k="100", mode="dense", **args)
    pmids = p.result_pmids()
    expected = {pmid for pmid, row in rows.items() if check(row)}
    assert pmids and set(pmids) == expected
    for name, value in args.items():  # the form shows the filters in force
        control = next(a for t, a in p.tags if a.get("name") == name and t in ("input", "select"))
        if control.get("value") is not None:
            assert control["value"] == value
    opened = [a for a in p.all("details") if "open" in a]
    assert opened, "the filter panel stays open while filters are set"


def test_pagination(client):
    args = {"q": "cardiac troponin", "k": "5", "mode": "lexical"}
    first = page(client, "/search", **args)
    total = api(client, "/api/search", **args)["total"]
    assert total > 10
    links = {a.get("rel"): a["href"] for a in first.all("a") if a.get("rel") in ("prev", "next")}
    assert "prev" not in links and "page=2" in links["next"]
    second = page(client, links["next"])
    assert second.result_pmids() == [
        r["pmid"] for r in api(client, "/api/search", **args, page="2")["results"]
    ]
    assert not set(second.result_pmids()) & set(first.result_pmids())
    links = {a.get("rel"): a["href"] for a in second.all("a") if a.get("rel") in ("prev", "next")}
    assert "page=" not in links["prev"] or "page=1" in links["prev"]
    current = [a for a in second.all("span") if a.get("aria-current") == "page"]
    assert len(current) == 1
    last_page = -(-total // 5)
    last = page(client, "/search", **args, page=str(last_page))
    assert "next" not in {a.get("rel") for a in last.all("a")}


def test_no_result_state(client):
    p = page(client, "/search", q="qqqzzzxxyy", mode="lexical", journal="BMJ")
    assert "No articles found" in p.text
    hrefs = [a["href"] for a in p.all("a")]
    assert any("mode=dense" in h for h in hrefs)
    assert any(h.startswith("/search?") and "journal" not in h and "qqqzzzxxyy" in h for h in hrefs)


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"q": "x", "k": "0"}, "k"),
        ({"q": "x", "year_from": "abc"}, "year_from"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "mode": "fuzzy"}, "mode"),
    ],
)
def test_error_state_is_a_friendly_400(client, args, param):
    p = page(client, "/search", status=400, **args)
    assert "This search could not run" in p.text and param in p.text
    assert p.all("form"), "the form stays on the page to fix the value"
    assert next(a for a in p.all("input") if a.get("id") == "q")["value"] == args["q"]


# article and similar pages ----------------------------------------------------------------


def test_article_page(client, tiny_corpus):
    row = next(r for r in tiny_corpus[1] if r["sections"] and r["publication_types"])
    p = page(client, f"/articles/{row['pmid']}")
    assert p.title.endswith(" — pubmed-search") and p.title.startswith(row["title"][:40])
    for section in row["sections"]:
        assert section["label"] in p.text and section["text"] in p.text
    for mesh in row["mesh"]:
        assert mesh["name"] in p.text
    assert f"{row['mesh'][0]['name']} * (major topic)" in p.text  # synthetic: first is major
    assert row["publication_types"][0] in p.text
    hrefs = [a["href"] for a in p.all("a")]
    assert f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/" in hrefs
    assert f"https://doi.org/{row['doi']}" in hrefs
    assert str(row["pmid"]) in p.text and row["doi"] in p.text
    similar = api(client, f"/api/articles/{row['pmid']}/similar", k="5")
    assert p.result_pmids() == [r["pmid"] for r in similar["results"]]


def test_similar_page_and_unknown_articles(client, tiny_corpus):
    pmid = tiny_corpus[1][2]["pmid"]
    p = page(client, f"/articles/{pmid}/similar", k="4", year_from="2000")
    expected = api(client, f"/api/articles/{pmid}/similar", k="4", year_from="2000")
    assert p.result_pmids() == [r["pmid"] for r in expected["results"]]
    assert p.title.startswith("Articles similar to ")
    page(client, f"/articles/{pmid}/similar", status=400, k="x")
    for path in ("/articles/1", "/articles/abc", "/articles/1/similar", "/articles/-1"):
        assert "not" in page(client, path, status=404).text.lower()


# untrusted article text -------------------------------------------------------------------


def test_xss_article_is_inert_on_every_page(xss_client):
    results = page(xss_client, "/search", q="asthma airway wheeze", k="100")
    assert XSS_PMID in results.result_pmids()
    paths = [f"/articles/{XSS_PMID}", f"/articles/{XSS_PMID}/similar"]
    others = [p for p in results.result_pmids() if p != XSS_PMID][:1]
    paths += [f"/articles/{p}" for p in others]  # the XSS article in someone's similar list
    pages = [results] + [page(xss_client, path) for path in paths]
    for p in pages:
        assert_inert(p)
    raw = xss_client.get(f"/articles/{XSS_PMID}").get_data(as_text=True)
    assert "<script>alert" not in raw and "<img src=x" not in raw and "<svg" not in raw
    article = Page(raw)
    for payload in XSS_PAYLOADS.values():  # shown as text, verbatim
        assert " ".join(payload.split()) in article.text
    assert "&lt;script&gt;" in raw
    doi_links = [a["href"] for a in article.all("a") if "doi.org" in (a.get("href") or "")]
    assert doi_links and all('"' not in h and "<" not in h for h in doi_links)


def test_xss_in_the_query_is_inert(client):
    q = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    p = page(client, "/search", q=q, mode="lexical")
    assert_inert(p)
    assert p.title.startswith('"><script>')
    assert_inert(page(client, "/search", status=400, q=q, k="<script>"))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab<>&\"' \u00e9x"), max_size=40),
    spans=st.lists(st.tuples(st.integers(-5, 45), st.integers(-5, 45)), max_size=6),
)
def test_highlight_escapes_everything(text, spans):
    out = str(highlight(text, spans))
    assert "<" not in out.replace("<mark>", "").replace("</mark>", "")
    assert html.unescape(out.replace("<mark>", "").replace("</mark>", "")) == text
    assert out.count("<mark>") == out.count("</mark>") <= len(spans)


# headers, assets, accessibility -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search?q=asthma",
        "/api/search?q=asthma",
        "/api/health",
        "/static/style.css",
        "/nope",
        "/api/nope",
        "/api/search?q=asthma&format=csv",
    ],
)
def test_security_headers_everywhere(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"]


def test_no_inline_script_or_style_and_no_external_assets(client):
    for path in ("/", "/search?q=stroke", "/articles/1000"):
        text = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline script"
        assert "<style" not in text and " style=" not in text
    css = (STATIC / "style.css").read_text()
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert "|safe" not in source.replace(" ", ""), template.name
        for url in re.findall(r'(?:src|href)="(https?:[^"]*)"', source):
            assert "pubmed.ncbi.nlm.nih.gov" in url, (template.name, url)
    assert client.get("/static/app.js").status_code == 200


def test_every_form_control_has_a_label(client):
    for path in ("/", "/search?q=stroke&journal=BMJ", "/articles/1000/similar"):
        p = page(client, path)
        labelled = {a.get("for") for a in p.all("label")}
        controls = [a for t, a in p.tags if t in ("input", "select", "textarea")]
        assert controls
        for control in controls:
            if control.get("type") != "hidden":
                assert control.get("id") in labelled, control
    css = (STATIC / "style.css").read_text()
    assert ":focus-visible" in css and "@media (max-width" in css
