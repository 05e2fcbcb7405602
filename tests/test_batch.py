"""POST /api/search/batch (web/batch.py, search/batch.py): same pages as /api/search, one
encoder forward pass for the batch, per-item errors, whole-body refusals, the schema."""

from __future__ import annotations

import numpy as np
import pytest

from search.batch import MAX_BATCH
from tests.test_api import validator

QUERIES = [
    {"q": "asthma inhaled budesonide", "k": 3},
    {"q": "insulin glucose metformin", "mode": "dense", "k": 4, "passages": True},
    {"q": "stroke thrombolysis", "mode": "lexical", "year_from": 2000},
    {"q": "carcinoma[ti] OR chemotherapy", "syntax": "pubmed", "k": 2},
    {"q": "sepsis vancomycin", "mode": "hybrid", "page": 2, "k": 2, "has_abstract": "true"},
]
VOLATILE = ("took_ms",)


def _stable(page: dict) -> dict:
    return {k: v for k, v in page.items() if k not in VOLATILE}


@pytest.fixture
def forwards(web_engine, monkeypatch) -> list[int]:
    """Counts the query encoder's forward passes (batch sizes) with an empty query cache."""
    encoder = web_engine.state.embedder.encoder
    calls: list[int] = []
    real = encoder._forward

    def counting(enc, idx):
        calls.append(len(idx))
        return real(enc, idx)

    monkeypatch.setattr(encoder, "_forward", counting)
    web_engine.query_cache.clear()
    yield calls
    web_engine.query_cache.clear()


def test_batch_pages_equal_single_searches(client) -> None:
    response = client.post("/api/search/batch", json={"queries": QUERIES})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True and body["count"] == len(QUERIES) and body["failed"] == 0
    for query, page in zip(QUERIES, body["pages"], strict=True):
        single = client.post("/api/search", json=query).get_json()
        assert single["ok"] and page["ok"]
        assert _stable(page) == _stable(single), query
        assert page["results"], query
    for r in body["pages"][1]["results"]:
        abstract = client.get(f"/api/articles/{r['pmid']}").get_json()["abstract"]
        assert (r["passage"] is not None) == bool(abstract)
        assert r["passage"] is None or abstract[r["passage"]["start"] : r["passage"]["end"]]


def test_one_pass_vectors_equal_one_at_a_time(web_engine) -> None:
    encoder = web_engine.state.embedder.encoder
    texts = ["asthma", "insulin glucose metformin in type 2 diabetes", "a much longer query " * 6]
    together = encoder.encode_one_pass(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert together.shape == (3, encoder.dim)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_batch_embeds_in_one_forward_pass(client, forwards) -> None:
    queries = [{"q": f"asthma airway cohort {i}", "mode": m} for i, m in
               enumerate(["dense", "hybrid"] * 8)]  # fmt: skip
    queries.append({"q": "lexical needs no vector", "mode": "lexical"})
    body = client.post("/api/search/batch", json={"queries": queries}).get_json()
    assert body["failed"] == 0 and len(body["pages"]) == 17
    assert forwards == [16], "16 distinct dense/hybrid queries: one pass of 16"
    forwards.clear()
    again = [{"q": f"glucose insulin {i}", "mode": "dense"} for i in range(5)]
    for query in again:
        assert client.post("/api/search", json=query).status_code == 200
    assert forwards == [1] * 5, "one by one: a forward pass each"


def test_duplicate_and_cached_queries_are_embedded_once(client, forwards) -> None:
    queries = [{"q": "tumour biopsy"}, {"q": "tumour biopsy", "k": 2}, {"q": "coronary stent"}]
    client.post("/api/search/batch", json={"queries": queries})
    assert forwards == [2]
    forwards.clear()
    client.post("/api/search/batch", json={"queries": queries})
    assert forwards == [], "cached vectors are not recomputed"


def test_bad_items_are_item_errors_with_the_api_message(client) -> None:
    bad = [
        {"q": "asthma", "k": 0},
        {"q": ""},
        {"q": "asthma", "colour": "red"},
        {"q": "asthma[ti", "syntax": "pubmed"},
        {"q": "asthma", "format": "ris"},
        "asthma",
        {"q": "asthma", "year_from": 2010, "year_to": 2000},
    ]
    queries = [{"q": "asthma"}, *bad, {"q": "diabetes", "mode": "lexical"}]
    body = client.post("/api/search/batch", json={"queries": queries}).get_json()
    pages = body["pages"]
    assert body["count"] == len(queries) and body["failed"] == len(bad)
    assert pages[0]["ok"] and pages[-1]["ok"] and pages[-1]["results"]
    for item, page in zip(bad, pages[1:-1], strict=True):
        assert page["ok"] is False and page["status"] == 400, item
        assert set(page) == {"ok", "status", "error"}
        if isinstance(item, dict) and "format" not in item:
            single = client.post("/api/search", json=item)
            assert single.status_code == 400
            assert page["error"] == single.get_json()["error"], item
    assert pages[5]["error"].startswith("format:")
    assert pages[6]["error"].startswith("body:")


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "queries:"),
        ({"queries": []}, "queries:"),
        ({"queries": {"q": "asthma"}}, "queries:"),
        ({"queries": [{"q": "a"}] * (MAX_BATCH + 1)}, f"at most {MAX_BATCH}"),
        ({"queries": [{"q": "a"}], "k": 3}, "k: unknown key"),
        (["asthma"], "body:"),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused_whole(client, body, message) -> None:
    response = client.post("/api/search/batch", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["ok"] is False and error["status"] == 400 and message in error["error"]


def test_batch_limits_and_methods(client) -> None:
    full = client.post("/api/search/batch", json={"queries": [{"q": "a b"}] * MAX_BATCH})
    assert full.status_code == 200 and full.get_json()["count"] == MAX_BATCH
    get = client.get("/api/search/batch")
    assert get.status_code == 405 and get.get_json()["ok"] is False


def test_batch_responses_validate_against_openapi(client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert "/api/search/batch" in doc["paths"]
    body = {"queries": [*QUERIES, {"q": "x", "k": 0}]}
    validator(doc, "BatchRequest").validate({"queries": QUERIES})
    validator(doc, "BatchResponse").validate(client.post("/api/search/batch", json=body).get_json())
    validator(doc, "Error").validate(client.post("/api/search/batch", json={}).get_json())
    page = client.get("/api/search?q=asthma&passages=1").get_json()
    validator(doc, "ResultPage").validate(page)
