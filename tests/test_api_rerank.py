"""Cross-encoder re-ranking through the web layer (API, OpenAPI, UI, serve --rerank).

A tiny random cross-encoder is built here; the API's re-ranked order is compared with the
engine's own ``search(..., rerank=True)`` on a separately opened engine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_api import validator
from tests.test_rerank import make_cross_encoder

QUERIES = ["budesonide airway exacerbation", "insulin glucose", "cisplatin tumour biopsy"]
MODES = ("hybrid", "dense", "lexical")


@pytest.fixture(scope="module")
def cross_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_cross_encoder(tmp_path_factory.mktemp("web_cross") / "ce", tiny_model_dir)


@pytest.fixture(scope="module")
def rerank_app(tiny_index, cross_dir):
    from web import create_app

    app = create_app(
        {
            "INDEX_DIR": str(tiny_index),
            "RERANK_MODEL": str(cross_dir),
            "RERANK_TOP_N": 20,
            "RELOAD_INTERVAL": 0,
        }
    )
    yield app
    app.extensions["pubmed_search"].close()


@pytest.fixture(scope="module")
def rerank_client(rerank_app):
    return rerank_app.test_client()


@pytest.fixture(scope="module")
def reference(tiny_index, cross_dir):
    """An engine opened independently of the app, with the same cross-encoder."""
    from search.engine import SearchEngine

    engine = SearchEngine.open(tiny_index, reranker=str(cross_dir), rerank_top_n=20)
    yield engine
    engine.close()


def ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def test_rerank_follows_the_cross_encoder(rerank_client, reference):
    changed = 0
    for mode in MODES:
        for q in QUERIES[:2]:
            plain = ok(rerank_client.get("/api/search", query_string={"q": q, "mode": mode}))
            got = ok(
                rerank_client.get("/api/search", query_string={"q": q, "mode": mode, "rerank": 1})
            )
            want = reference.search(q, k=10, mode=mode, rerank=True)
            assert [r["pmid"] for r in got["results"]] == [h.pmid for h in want.hits]
            assert [r["score"] for r in got["results"]] == pytest.approx(
                [h.score for h in want.hits], abs=1e-3
            )
            assert got["reranked"] is True and got["rerank_ms"] > 0
            assert got["took_ms"] >= got["rerank_ms"]
            assert plain["reranked"] is False and plain["rerank_ms"] is None
            plain_order = [r["pmid"] for r in plain["results"]]
            changed += plain_order != [r["pmid"] for r in got["results"]]
    assert changed > 0  # the cross-encoder really reorders (else the test proves nothing)


def test_post_and_second_page(rerank_client, reference):
    q = QUERIES[0]
    body = ok(rerank_client.post("/api/search", json={"q": q, "rerank": True, "k": 5}))
    get = ok(rerank_client.get("/api/search", query_string={"q": q, "rerank": "true", "k": 5}))
    assert [r["pmid"] for r in body["results"]] == [r["pmid"] for r in get["results"]]
    page2 = ok(
        rerank_client.get("/api/search", query_string={"q": q, "rerank": 1, "k": 5, "page": 2})
    )
    want = reference.search(q, k=5, page=2, rerank=True)
    assert [r["pmid"] for r in page2["results"]] == [h.pmid for h in want.hits]
    assert [r["rank"] for r in page2["results"]] == list(range(6, 6 + len(want.hits)))
    off = ok(rerank_client.post("/api/search", json={"q": q, "rerank": False}))
    assert off["reranked"] is False  # opt-in: false and absent both mean no re-ranking


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_rerank_value_names_the_parameter(rerank_client, value):
    response = rerank_client.get("/api/search", query_string={"q": "insulin", "rerank": value})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("rerank:")


def test_rerank_without_a_cross_encoder_is_400(client):
    for response in (
        client.get("/api/search", query_string={"q": "insulin", "rerank": "1"}),
        client.post("/api/search", json={"q": "insulin", "rerank": True}),
    ):
        assert response.status_code == 400
        body = response.get_json()
        assert body["error"].startswith("rerank:") and body["status"] == 400
    off = ok(client.get("/api/search", query_string={"q": "insulin", "rerank": "0"}))
    assert off["reranked"] is False and off["rerank_ms"] is None
    assert ok(client.get("/api/health"))["reranker"] is None
    ui = client.get("/search", query_string={"q": "insulin", "rerank": "1"})
    assert ui.status_code == 400 and "rerank:" in ui.get_data(as_text=True)
    assert 'name="rerank"' not in client.get("/").get_data(as_text=True)


def test_health_and_openapi(rerank_client, cross_dir):
    health = ok(rerank_client.get("/api/health"))
    assert health["reranker"] == str(cross_dir)
    doc = ok(rerank_client.get("/api/openapi.json"))
    names = [p["name"] for p in doc["paths"]["/api/search"]["get"]["parameters"]]
    assert "rerank" in names
    assert "rerank" in doc["components"]["schemas"]["SearchRequest"]["properties"]
    similar = doc["paths"]["/api/articles/{pmid}/similar"]["get"]["parameters"]
    assert "rerank" not in {p["name"] for p in similar}
    assert not list(validator(doc, "Health").iter_errors(health))
    page = ok(rerank_client.get("/api/search", query_string={"q": "insulin", "rerank": 1}))
    assert not list(validator(doc, "ResultPage").iter_errors(page))
    assert validator(doc, "SearchRequest").is_valid({"q": "insulin", "rerank": True})
    assert not validator(doc, "ResultPage").is_valid({**page, "reranked": "yes"})


def test_ui_checkbox_and_note(rerank_client, cross_dir):
    home = rerank_client.get("/").get_data(as_text=True)
    assert f"Re-rank with {cross_dir}" in home
    assert re.search(r'<input id="rerank" name="rerank" type="checkbox" value="1">', home)
    on = rerank_client.get("/search", query_string={"q": "insulin glucose", "rerank": "1"})
    text = on.get_data(as_text=True)
    assert on.status_code == 200
    note = re.search(r"re-ranked by (.+?) \(\+(\d+) ms\)", text)
    assert note and note.group(1) == str(cross_dir)
    assert re.search(r'name="rerank" type="checkbox" value="1" checked', text)
    assert "rerank=1" in text  # pagination / export links keep the choice
    off = rerank_client.get("/search", query_string={"q": "insulin glucose"})
    assert "re-ranked by" not in off.get_data(as_text=True)


def test_serve_reports_an_unloadable_cross_encoder(tiny_index, tmp_path):
    from click.testing import CliRunner

    from pubmed_search.commands.serve import command

    missing = tmp_path / "no-such-model"
    result = CliRunner().invoke(command, ["--index", str(tiny_index), "--rerank", str(missing)])
    assert result.exit_code == 1
    assert "cross-encoder" in result.output and str(missing) in result.output
