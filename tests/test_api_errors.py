"""Every failure of every endpoint: status, the one error shape, and a message naming the cause."""

from __future__ import annotations

import json
import logging

import pytest

SEARCH = "/api/search"
LONG = "a" * 1001
ENDPOINT_PARAMS = {  # the page/filter parameters shared by search and similar
    "k": ["0", "101", "-1", "ten", "1.5", "1e2", "", "٣"],
    "page": ["0", "-3", "1001", "two", "2.0"],
    "format": ["pdf", "xml", "RIS2"],
    "year_from": ["abc", "19.5", "0", "10000", "２０２０"],
    "year_to": ["x", "-2020"],
    "has_abstract": ["maybe", "2", "yess"],
    "journal": ["j" * 201],
    "mesh": ["m" * 201],
    "pubtype": ["p" * 201],
}
# "" for k is the default, not an error: drop it from the failure table
ENDPOINT_PARAMS["k"].remove("")


def _bad_params(extra: dict) -> list:
    cases = []
    for param, values in ENDPOINT_PARAMS.items():
        for value in values:
            cases.append(pytest.param({**extra, param: value}, param, id=f"{param}={value!r}"))
    cases.append(pytest.param({**extra, "k": "100", "page": "101"}, "page", id="k*page>10000"))
    cases.append(
        pytest.param({**extra, "year_from": "2020", "year_to": "2010"}, "year_from", id="from>to")
    )
    return cases


SEARCH_FAILURES = [
    pytest.param({}, "q", id="missing q"),
    pytest.param({"q": ""}, "q", id="empty q"),
    pytest.param({"q": "   \t "}, "q", id="blank q"),
    pytest.param({"q": "\x00\x01"}, "q", id="control-only q"),
    pytest.param({"q": LONG}, "q", id="q over 1000 chars"),
    pytest.param({"q": "x", "mode": "fuzzy"}, "mode", id="unknown mode"),
    pytest.param({"q": "x", "mode": "similar"}, "mode", id="mode similar"),
    *_bad_params({"q": "asthma"}),
]


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"ok", "status", "error"}
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"], (word, body["error"])
    assert "Traceback" not in body["error"]
    return body


@pytest.mark.parametrize(("args", "param"), SEARCH_FAILURES)
def test_search_get_rejects(client, args, param):
    body = assert_error(client.get(SEARCH, query_string=args), 400, param)
    assert body["error"].startswith(param)


@pytest.mark.parametrize(("args", "param"), SEARCH_FAILURES)
def test_search_post_rejects(client, args, param):
    assert_error(client.post(SEARCH, json=args), 400, param)


@pytest.mark.parametrize(("args", "param"), _bad_params({}))
def test_similar_rejects(client, tiny_corpus, args, param):
    pmid = tiny_corpus[1][0]["pmid"]
    assert_error(client.get(f"/api/articles/{pmid}/similar", query_string=args), 400, param)


def test_year_order_message_names_both_years(client):
    body = assert_error(
        client.get(SEARCH, query_string={"q": "x", "year_from": 2020, "year_to": 2010}), 400
    )
    assert "year_from" in body["error"] and "year_to" in body["error"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(b"{not json", "body", id="bad json"),
        pytest.param(b"", "body", id="empty body"),
        pytest.param(b"[1, 2]", "body", id="array"),
        pytest.param(b'"asthma"', "body", id="string"),
        pytest.param(b"null", "body", id="null"),
        pytest.param(b"\xff\xfe{}", "body", id="not utf-8"),
        pytest.param(b"[" * 20000 + b"]" * 20000, "body", id="deeply nested"),
        pytest.param(b'{"q": 5}', "q", id="q not a string"),
        pytest.param(b'{"q": ["a"]}', "q", id="q a list"),
        pytest.param(b'{"q": "\\ud800"}', "q", id="lone surrogate"),
        pytest.param(b'{"q": "x", "k": true}', "k", id="k boolean"),
        pytest.param(b'{"q": "x", "k": 5.0}', "k", id="k float"),
        pytest.param(b'{"q": "x", "k": 1e999}', "k", id="k infinite"),
        pytest.param(b'{"q": "x", "page": {}}', "page", id="page object"),
        pytest.param(b'{"q": "x", "has_abstract": 1}', "has_abstract", id="has_abstract 1"),
        pytest.param(b'{"q": "x", "year_from": null, "year_to": "y"}', "year_to", id="year_to"),
        pytest.param(b'{"q": "x", "bogus": 1}', "bogus", id="unknown key"),
    ],
)
def test_search_post_body_rejects(client, body, param):
    response = client.post(SEARCH, data=body, content_type="application/json")
    assert_error(response, 400, param)


def test_post_with_large_int_is_a_400_not_a_crash(client):
    body = b'{"q": "x", "k": ' + b"9" * 5000 + b"}"
    assert_error(client.post(SEARCH, data=body, content_type="application/json"), 400)


@pytest.mark.parametrize(
    "path",
    [
        "/api/articles/1",
        "/api/articles/999999999999",
        "/api/articles/2147483648",
        "/api/articles/abc",
        "/api/articles/0",
        "/api/articles/-5",
        "/api/articles/12abc",
        "/api/articles/%2e%2e",
        "/api/articles/1/similar",
        "/api/articles/abc/similar",
        "/api/articles/1e3/similar",
        "/api/nowhere",
        "/api",
        "/api/",
        "/api/search/",
        "/api/articles",
        "/api/articles/1/similar/more",
        "/api/../api/x",
    ],
)
def test_unknown_things_are_404(client, path):
    assert_error(client.get(path), 404)


def test_unknown_pmid_message_names_pmid(client):
    body = assert_error(client.get("/api/articles/4242"), 404, "4242")
    assert "pmid" in body["error"].lower()
    assert_error(client.get("/api/articles/4242/similar"), 404, "4242")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", SEARCH, {"GET", "POST"}),
        ("PUT", SEARCH, {"GET", "POST"}),
        ("POST", "/api/health", {"GET"}),
        ("PATCH", "/api/articles/1000", {"GET"}),
        ("POST", "/api/articles/1000/similar", {"GET"}),
        ("POST", "/api/openapi.json", {"GET"}),
    ],
)
def test_wrong_method_is_405(client, method, path, allowed):
    response = client.open(path, method=method)
    assert_error(response, 405, "method")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_body_over_the_limit_is_413(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 64 * 1024
    body = json.dumps({"q": "x" * (limit + 10)})
    assert_error(client.post(SEARCH, data=body, content_type="application/json"), 413)
    just_under = json.dumps({"q": "asthma", "pad": " " * 10}).encode()
    assert client.post(SEARCH, data=just_under, content_type="application/json").status_code == 400


@pytest.mark.parametrize(
    ("method_name", "path"),
    [
        ("search", "/api/search?q=asthma"),
        ("similar", "/api/articles/1000/similar"),
        ("article", "/api/articles/1000"),
        ("search", "/api/search?q=asthma&format=csv"),
    ],
)
def test_unexpected_error_is_500_without_a_traceback(
    client, app, monkeypatch, caplog, method_name, path
):
    engine = app.extensions["pubmed_search"]

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(engine, method_name, explode)
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        response = client.get(path)
    assert_error(response, 500)
    text = response.get_data(as_text=True)
    assert "secret" not in text and "RuntimeError" not in text and "Traceback" not in text
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)


def test_health_failure_is_500_with_the_shape(client, app, monkeypatch):
    engine = app.extensions["pubmed_search"]
    monkeypatch.setattr(type(engine), "state", property(lambda self: 1 / 0))
    assert_error(client.get("/api/health"), 500)


def test_ui_errors_are_html_pages_with_the_status(client, app, monkeypatch):
    response = client.get("/articles/abc")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/search").status_code == 405
    engine = app.extensions["pubmed_search"]
    monkeypatch.setattr(engine, "search", lambda *a, **k: 1 / 0)
    response = client.get("/search?q=asthma")
    assert response.status_code == 500 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "ZeroDivisionError" not in text and "Traceback" not in text
    assert "Something went wrong" in text


def test_engine_value_error_becomes_400(client, app, monkeypatch):
    engine = app.extensions["pubmed_search"]

    from indexer.errors import InvalidParameter

    def refuse(*args, **kwargs):
        raise InvalidParameter("k: refused by the engine")

    monkeypatch.setattr(engine, "search", refuse)
    assert_error(client.get(SEARCH, query_string={"q": "x"}), 400, "k")
