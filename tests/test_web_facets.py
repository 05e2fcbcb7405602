"""PubMed syntax and facets through every face: the API, the web UI (form toggle, the
server-rendered year chart, facet links) and ``pubmed-search query``."""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.filters import Filters
from indexer.text import words
from tests.fixtures.web import XSS_PAYLOADS, XSS_PMID
from tests.test_api_errors import assert_error
from tests.test_cli_errors import assert_one_line
from tests.test_ui import Page, assert_inert, page

EXPR = "asthma[ti] AND 2000:2010[dp]"


def _asthma_2000s(row: dict) -> bool:
    return "asthma" in words(row["title"]) and 2000 <= row["year"] <= 2010


def _api(client, **args) -> dict:
    response = client.get("/api/search", query_string=args)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _query(href: str) -> dict[str, str]:
    """A link's query arguments (one value each: the UI never repeats one)."""
    parsed = parse_qs(urlsplit(href).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), href
    return {k: v[0] for k, v in parsed.items()}


def _chart_bars(p: Page) -> list[dict]:
    return [a for a in p.all("a") if "year-bar" in (a.get("class") or "")]


def _facet_links(p: Page) -> list[dict]:
    """The facet lists' links (journal, MeSH, publication type values)."""
    return [a for a in p.all("a") if a.get("href", "").startswith("/search?")]


# --- API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_api_pubmed_syntax_selects_exactly(client, tiny_corpus, mode):
    want = {r["pmid"] for r in tiny_corpus[1] if _asthma_2000s(r)}
    body = _api(client, q=EXPR, syntax="pubmed", mode=mode, k=100)
    assert body["syntax"] == "pubmed" and body["query"] == EXPR
    assert {r["pmid"] for r in body["results"]} == want and body["total"] == len(want)
    body_args = {"q": EXPR, "syntax": "PubMed", "mode": mode, "k": 100}
    posted = client.post("/api/search", json=body_args)
    assert posted.status_code == 200
    assert {r["pmid"] for r in posted.get_json()["results"]} == want
    plain = _api(client, q=EXPR, mode=mode, k=100)  # the default reads words, never syntax
    assert plain["syntax"] == "plain" and {r["pmid"] for r in plain["results"]} != want


@pytest.mark.parametrize(
    ("expr", "position"),
    [("asthma[xx]", 6), ("(asthma OR", 10), ("asthma AND", 7), ('"open phrase', 0)],
)
def test_api_malformed_expression_is_a_400_naming_the_position(client, expr, position):
    response = client.get("/api/search", query_string={"q": expr, "syntax": "pubmed"})
    body = assert_error(response, 400, "syntax:", "at position")
    found = int(re.search(r"at position (\d+)", body["error"]).group(1))
    assert abs(found - position) <= 4
    posted = client.post("/api/search", json={"q": expr, "syntax": "pubmed"})
    assert assert_error(posted, 400)["error"] == body["error"]
    # the same text as plain words is a search, not an error
    assert client.get("/api/search", query_string={"q": expr}).status_code == 200


def test_api_unknown_syntax_is_a_400(client):
    assert_error(client.get("/api/search?q=asthma&syntax=lucene"), 400, "syntax", "plain, pubmed")
    assert_error(client.post("/api/search", json={"q": "a", "syntax": True}), 400, "syntax")


def test_api_facets_are_the_engines_and_null_by_default(client, web_engine, tiny_corpus):
    args = {"q": "asthma", "mode": "hybrid", "k": 5, "year_from": 1995}
    assert _api(client, **args)["facets"] is None
    assert _api(client, **args, facets="false")["facets"] is None
    body = _api(client, **args, facets="1")
    response = web_engine.search(
        "asthma", k=5, mode="hybrid", filters=Filters(year_from=1995), facets=True
    )
    assert body["facets"] == response.facets.to_dict()
    assert set(body["facets"]) == {"year", "journal", "mesh", "pubtype"}
    years = [y["value"] for y in body["facets"]["year"]]
    assert years == sorted(years) and min(years) >= 1995
    assert sum(y["count"] for y in body["facets"]["year"]) == body["total"] > len(body["results"])
    posted = client.post("/api/search", json={**args, "facets": True}).get_json()
    assert posted["facets"] == body["facets"]
    # with an expression: the counts of the articles it selects
    rows = [r for r in tiny_corpus[1] if _asthma_2000s(r)]
    counted = _api(client, q=EXPR, syntax="pubmed", facets="yes", mode="dense")["facets"]
    assert {y["value"]: y["count"] for y in counted["year"]} == Counter(r["year"] for r in rows)
    assert {j["value"]: j["count"] for j in counted["journal"]} == Counter(
        r["journal"] for r in rows
    )


def test_api_exports_with_pubmed_syntax(client):
    args = {"q": EXPR, "syntax": "pubmed", "k": 5}
    expected = [r["pmid"] for r in _api(client, **args)["results"]]
    assert expected
    for fmt in ("ris", "bibtex", "csv"):
        response = client.get("/api/search", query_string={**args, "format": fmt, "facets": "1"})
        assert response.status_code == 200
        assert "attachment" in response.headers["Content-Disposition"]
        text = response.get_data(as_text=True)
        assert all(str(pmid) in text for pmid in expected), fmt


def test_openapi_documents_syntax_and_facets(client):
    doc = client.get("/api/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert set(params["syntax"]["schema"]["anyOf"][0]["enum"]) == {"plain", "pubmed", ""}
    assert params["syntax"]["schema"]["default"] == "plain"
    assert params["facets"]["schema"]["default"] == "false"
    assert "position" in params["syntax"]["description"]
    page = doc["components"]["schemas"]["ResultPage"]
    assert {"syntax", "facets"} <= set(page["required"])
    facets = doc["components"]["schemas"]["Facets"]
    assert set(facets["required"]) == {"year", "journal", "mesh", "pubtype"}
    assert facets["properties"]["year"]["items"]["properties"]["value"] == {"type": "integer"}
    similar = doc["components"]["schemas"]["SimilarPage"]
    assert {"syntax", "facets"} <= set(similar["properties"])


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXPRESSION_PARTS = st.sampled_from(
    ["asthma", "insulin", "stroke", "AND", "OR", "NOT", "(", ")", '"', "[ti]", "[mh]", "[dp]",
     "[xx]", "[au]", "2000:2010", "2020:2000", "asth*", "as*", "*", "smith j", ":", "[", "]"]
)  # fmt: skip


@FUZZ
@given(
    parts=st.lists(EXPRESSION_PARTS | st.text(max_size=6), min_size=1, max_size=8),
    mode=st.sampled_from(["lexical", "dense", "hybrid"]),
)
def test_fuzz_pubmed_expressions_are_results_or_a_positioned_400(client, parts, mode):
    q = " ".join(parts)
    response = client.get(
        "/api/search", query_string={"q": q, "syntax": "pubmed", "mode": mode, "facets": "1"}
    )
    assert response.status_code in (200, 400), response.data[:300]
    body = response.get_json()
    if response.status_code == 400:
        assert set(body) == {"ok", "status", "error"} and body["status"] == 400
        assert body["error"].startswith(("syntax:", "q:")), body["error"]
        if body["error"].startswith("syntax:") and "at position" in body["error"]:
            position = int(re.search(r"at position (\d+)", body["error"]).group(1))
            assert 0 <= position <= len(q)
    else:
        assert body["syntax"] == "pubmed" and body["facets"] is not None
        assert sum(y["count"] for y in body["facets"]["year"]) <= body["total"]


# --- web UI ----------------------------------------------------------------------------------


def test_ui_form_has_the_syntax_toggle_and_keeps_its_state(client):
    p = page(client, "/")
    (box,) = [a for a in p.all("input") if a.get("name") == "syntax"]
    assert box["type"] == "checkbox" and box["value"] == "pubmed" and "checked" not in box
    assert box["id"] in {a.get("for") for a in p.all("label")}
    assert "PubMed syntax" in p.text and "[ti]" in p.text  # the help and the empty state
    examples = [a["href"] for a in p.all("a") if "syntax=pubmed" in (a.get("href") or "")]
    assert len(examples) >= 2
    for href in examples:  # every example of the empty state is a valid expression
        assert client.get(href).status_code == 200, href

    p = page(client, "/search", q=EXPR, syntax="pubmed", mode="lexical", k="3")
    (box,) = [a for a in p.all("input") if a.get("name") == "syntax"]
    assert "checked" in box
    assert "PubMed syntax" in p.text
    next_href = next(a["href"] for a in p.all("a") if a.get("rel") == "next")
    assert _query(next_href)["syntax"] == "pubmed" and _query(next_href)["page"] == "2"
    second = page(client, next_href)
    assert "checked" in next(a for a in second.all("input") if a.get("name") == "syntax")
    exports = [a["href"] for a in p.all("a") if "format=" in (a.get("href") or "")]
    assert exports and all(_query(h)["syntax"] == "pubmed" for h in exports)


def test_ui_results_with_syntax_are_the_api_results(client):
    args = {"q": EXPR, "syntax": "pubmed", "mode": "hybrid", "k": "4"}
    p = page(client, "/search", **args)
    assert p.result_pmids() == [r["pmid"] for r in _api(client, **args)["results"]]


def test_ui_malformed_expression_is_a_friendly_400_showing_the_position(client):
    p = page(client, "/search", status=400, q="asthma[xx] AND stroke", syntax="pubmed")
    assert "This search could not run" in p.text
    assert "unknown field tag [xx] at position 6" in p.text
    raw = client.get("/search?q=asthma[xx]+AND+stroke&syntax=pubmed").get_data(as_text=True)
    assert '<bdi>asthma<mark class="error-at">[</mark>xx] AND stroke</bdi>' in raw
    assert "search the same text as plain words" in p.text
    q = "asthma[xx] AND stroke"
    (plain,) = [a["href"] for a in _facet_links(p) if _query(a["href"]).get("q") == q]
    assert "syntax" not in _query(plain) and client.get(plain).status_code == 200
    assert next(a for a in p.all("input") if a.get("id") == "q")["value"] == q


def test_ui_shows_facets_by_default_as_plain_html(client, tiny_corpus):
    args = {"q": "asthma", "mode": "lexical", "k": "5"}
    api = _api(client, **args, facets="1")
    response = client.get("/search", query_string=args)
    html = response.get_data(as_text=True)
    p = Page(html)
    assert "Refine results" in p.text and "Results by year" in p.text
    # the chart is inline SVG drawn on the server: one link per year with articles
    assert html.count('<svg class="year-chart"') == 1
    bars = _chart_bars(p)
    years = api["facets"]["year"]
    assert len(bars) == len(years) == len(p.all("rect")) // 2
    for bar, year in zip(bars, years, strict=True):
        label = f"{year['value']}: {year['count']} article{'' if year['count'] == 1 else 's'}"
        assert bar["aria-label"].startswith(label)
        assert (bar["data-year"], bar["data-count"]) == (str(year["value"]), str(year["count"]))
        link = _query(bar["href"])
        assert link == {**args, "year_from": str(year["value"]), "year_to": str(year["value"])}
    summary = re.search(r'<title id="year-chart-title">([^<]*)</title>', html).group(1)
    assert all(f"{y['value']}: {y['count']} article" in summary for y in years)
    heights = {b["data-year"]: float(r["height"]) for b, r in zip(
        bars, [r for r in p.all("rect") if r.get("class") == "bar"], strict=True)}  # fmt: skip
    top = max(years, key=lambda y: y["count"])
    assert heights[str(top["value"])] == max(heights.values())
    # the lists: each value a link setting its filter, with its count
    links = _facet_links(p)
    for name in ("journal", "mesh", "pubtype"):
        for item in api["facets"][name]:
            hrefs = [a["href"] for a in links if _query(a["href"]).get(name) == item["value"]]
            assert hrefs, (name, item)
            assert _query(hrefs[0]) == {**args, name: item["value"]}
            assert f"{item['value']} {item['count']}" in p.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_ui_facet_links_filter_and_reset_the_page(client, tiny_corpus):
    rows = {r["pmid"]: r for r in tiny_corpus[1]}
    args = {"q": "patients study", "mode": "lexical", "k": "5", "page": "2", "year_from": "1995"}
    p = page(client, "/search", **args)
    links = _facet_links(p)
    journal = next(a["href"] for a in links if "journal" in _query(a["href"]))
    wanted = _query(journal)
    assert "page" not in wanted and wanted["year_from"] == "1995" and wanted["k"] == "5"
    filtered = page(client, journal)
    assert filtered.result_pmids()
    assert all(rows[pmid]["journal"] == wanted["journal"] for pmid in filtered.result_pmids())
    # the facet in force is marked, and a link clears it (the other filters stay)
    current = [a for a in filtered.all("a") if a.get("aria-current") == "true"]
    assert len(current) == 1 and _query(current[0]["href"])["journal"] == wanted["journal"]
    assert "Any journal" in filtered.text
    (clear,) = [a["href"] for a in _facet_links(filtered) if "journal" not in _query(a["href"])]
    assert _query(clear) == {key: v for key, v in args.items() if key != "page"}
    # a year bar: only that year
    bar = _chart_bars(filtered)[0]
    year = int(bar["data-year"])
    only = page(client, bar["href"])
    assert only.result_pmids() and all(rows[x]["year"] == year for x in only.result_pmids())
    assert "All years" in only.text
    mesh = next(a["href"] for a in _facet_links(only) if "mesh" in _query(a["href"]))
    narrowed = page(client, mesh)
    name = _query(mesh)["mesh"]
    for pmid in narrowed.result_pmids():
        assert name in [m["name"] for m in rows[pmid]["mesh"]]


def test_ui_facets_can_be_turned_off_and_stay_off(client):
    p = page(client, "/search", q="asthma", mode="lexical", k="5", facets="0")
    assert not _chart_bars(p) and "Refine results" not in p.text
    hidden = [a for a in p.all("input") if a.get("name") == "facets"]
    assert hidden == [{"type": "hidden", "name": "facets", "value": "0"}]  # a new search keeps it
    next_href = next(a["href"] for a in p.all("a") if a.get("rel") == "next")
    assert _query(next_href)["facets"] == "0"
    (show,) = [a["href"] for a in _facet_links(p) if "facets" not in _query(a["href"])]
    assert _chart_bars(page(client, show))
    assert not [a for a in page(client, show).all("input") if a.get("name") == "facets"]


def test_ui_no_results_hints_mention_the_syntax(client):
    p = page(client, "/search", q="zzqqxx[ti]", mode="lexical")
    assert "PubMed syntax" in p.text
    assert any(_query(a["href"]).get("syntax") == "pubmed" for a in _facet_links(p))
    p = page(client, "/search", q="zzqqxx[ti]", mode="lexical", syntax="pubmed")
    assert "Check the expression" in p.text
    assert not _chart_bars(p)


def test_hostile_facet_values_are_inert_text(xss_client):
    args = {"q": "asthma airway wheeze", "k": "100", "mode": "lexical"}
    response = xss_client.get("/search", query_string=args)
    html = response.get_data(as_text=True)
    p = Page(html)
    assert_inert(p)
    assert html.count("<svg") == 1 and _chart_bars(p)
    assert "<script>alert" not in html and "<iframe" not in html
    facets = xss_client.get("/api/search", query_string={**args, "facets": "1"}).get_json()
    hostile = {"journal": XSS_PAYLOADS["journal"], "mesh": XSS_PAYLOADS["mesh"]}
    for name, value in hostile.items():
        assert value in [v["value"] for v in facets["facets"][name]]
        (link,) = [a for a in _facet_links(p) if _query(a["href"]).get(name) == value]
        assert "<" not in link["href"] and '"' not in link["href"]
        assert f"<bdi>{value.replace('<', '&lt;').replace('>', '&gt;')}</bdi>" in html
        assert value in p.text  # shown verbatim, as text
        filtered = page(xss_client, link["href"])  # following it filters to the record
        assert filtered.result_pmids() == [XSS_PMID]
        assert_inert(filtered)
        bars = _chart_bars(filtered)  # the chart's links carry the hostile filter, encoded
        assert len(bars) == 1 and _query(bars[0]["href"])[name] == value
        raw = xss_client.get(link["href"]).get_data(as_text=True)
        assert raw.count("<svg") == 1 and "<script>alert" not in raw


# --- CLI -------------------------------------------------------------------------------------


def _query_cli(*args: str):
    from pubmed_search.cli import cli

    return CliRunner().invoke(cli, ["query", *args])


def test_cli_syntax_and_facets(tiny_index, tiny_corpus):
    want = {r["pmid"] for r in tiny_corpus[1] if _asthma_2000s(r)}
    res = _query_cli("--index", str(tiny_index), "--syntax", "pubmed", "-k", "100", "--json", EXPR)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["syntax"] == "pubmed" and data["facets"] is None
    assert {r["pmid"] for r in data["results"]} == want
    res = _query_cli("--index", str(tiny_index), "--syntax", "pubmed", "--facets", "-k", "2", EXPR)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    start = lines.index("facets (whole match set):")
    block = lines[start + 1 :]
    assert [line.split(":")[0].strip() for line in block] == [
        "years", "journals", "MeSH", "publication types"
    ]  # fmt: skip
    rows = [r for r in tiny_corpus[1] if _asthma_2000s(r)]
    for journal, n in Counter(r["journal"] for r in rows).items():
        assert f"{journal} {n}" in block[1]
    assert all(len(line) <= 100 for line in block)
    res = _query_cli("--index", str(tiny_index), "--no-facets", "-k", "2", "asthma")
    assert res.exit_code == 0 and "facets (whole match set)" not in res.stdout


@pytest.mark.parametrize("expr", ["asthma[xx]", "(asthma OR", "as*", "2020:2000[dp]"])
def test_cli_malformed_expression_is_one_error_line_exit_2(tiny_index, expr):
    res = _query_cli("--index", str(tiny_index), "--syntax", "pubmed", expr)
    assert_one_line(res, 2, "Error: syntax:")
    assert "Traceback" not in res.output


def test_cli_unknown_syntax_is_a_usage_error(tiny_index):
    res = _query_cli("--index", str(tiny_index), "--syntax", "lucene", "asthma")
    assert res.exit_code == 2 and "lucene" in res.output
