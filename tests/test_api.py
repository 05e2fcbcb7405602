"""The retrieval API against a real index (``tiny_index``: 120 synthetic articles, tiny model)."""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.fixtures.web import start_server, stop_server
from web.params import FILTER_PARAMS, SEARCH_PARAMS, SIMILAR_PARAMS

PAGE_KEYS = {
    "ok",
    "query",
    "mode",
    "page",
    "k",
    "total",
    "has_next",
    "took_ms",
    "model",
    "version",
    "filters",
    "results",
}
RESULT_KEYS = {
    "citation",
    "cited_by",
    "retracted",
    "retraction_notices",
    "expression_of_concern",
    "concern_notices",
    "rank",
    "pmid",
    "score",
    "title",
    "journal",
    "year",
    "authors",
    "doi",
    "mesh",
    "snippet",
    "highlights",
    "url",
    "passage",
}


@pytest.fixture(scope="module")
def rows_by_pmid(tiny_corpus) -> dict[int, dict]:
    return {row["pmid"]: row for row in tiny_corpus[1]}


def get(client, path: str, **args) -> dict:
    response = client.get(path, query_string=args)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    return response.get_json()


def _abstract(row: dict) -> str:
    return " ".join(s["text"] for s in row["sections"])


def check_page(page: dict, rows_by_pmid: dict[int, dict], k: int, first_rank: int = 1) -> None:
    assert set(page) >= PAGE_KEYS and page["ok"] is True
    assert page["k"] == k and len(page["results"]) <= k
    assert [r["rank"] for r in page["results"]] == list(
        range(first_rank, first_rank + len(page["results"]))
    )
    scores = [r["score"] for r in page["results"]]
    assert scores == sorted(scores, reverse=True)
    for r in page["results"]:
        assert set(r) == RESULT_KEYS
        row = rows_by_pmid[r["pmid"]]
        assert r["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/"
        for key in ("title", "journal", "year", "authors", "doi"):
            assert r[key] == row[key], key
        assert r["mesh"] == [m["name"] for m in row["mesh"]]
        assert r["citation"].endswith(f"PMID: {r['pmid']}.") and row["title"] in r["citation"]
        plain = r["snippet"].strip("…")
        assert plain in " ".join(_abstract(row).split())
        for start, end in r["highlights"]:
            assert 0 <= start < end <= len(r["snippet"])


# search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_search_returns_real_results(client, rows_by_pmid, mode):
    page = get(client, "/api/search", q="asthma budesonide", k=7, mode=mode)
    check_page(page, rows_by_pmid, 7)
    assert page["mode"] == mode and page["query"] == "asthma budesonide"
    assert len(page["results"]) == 7
    assert page["total"] >= 7 and page["took_ms"] >= 0
    if mode == "lexical":
        assert page["model"] == "bm25"
        for r in page["results"]:  # every lexical hit holds a query word
            text = (r["title"] + " " + _abstract(rows_by_pmid[r["pmid"]])).lower()
            assert "asthma" in text or "budesonide" in text
            assert rows_by_pmid[r["pmid"]]["topic"] == "asthma"
    else:
        assert page["model"] != "bm25"
    if mode != "dense":
        marked = [r["snippet"][s:e].lower() for r in page["results"] for s, e in r["highlights"]]
        assert marked and set(marked) <= {"asthma", "budesonide"}


def test_lexical_total_counts_the_matching_articles(client, rows_by_pmid):
    page = get(client, "/api/search", q="cisplatin", mode="lexical", k=100)
    expected = {
        p
        for p, row in rows_by_pmid.items()
        if re.search(r"\bcisplatin\b", (row["title"] + " " + _abstract(row)).lower())
    }
    assert page["total"] == len(expected)
    assert {r["pmid"] for r in page["results"]} == expected
    assert page["has_next"] is False


def test_post_equals_get(client):
    args = {"q": "insulin glucose", "k": 5, "page": 2, "mode": "hybrid", "year_from": 1995}
    got = get(client, "/api/search", **args)
    posted = client.post("/api/search", json=args)
    assert posted.status_code == 200
    body = posted.get_json()
    for page in (got, body):
        page.pop("took_ms")
    assert body == got
    as_strings = client.post("/api/search", json={k: str(v) for k, v in args.items()})
    assert {**as_strings.get_json(), "took_ms": 0} == {**got, "took_ms": 0}


def test_pages_continue_without_overlap(client, rows_by_pmid):
    pages = [get(client, "/api/search", q="tumour carcinoma", k=5, page=p) for p in (1, 2, 3)]
    for n, page in enumerate(pages):
        check_page(page, rows_by_pmid, 5, first_rank=5 * n + 1)
        assert page["page"] == n + 1 and page["has_next"] is True
    pmids = [r["pmid"] for page in pages for r in page["results"]]
    assert len(pmids) == len(set(pmids)) == 15
    deep = get(client, "/api/search", q="tumour carcinoma", k=100, page=100)
    assert deep["results"] == [] and deep["has_next"] is False


@pytest.mark.parametrize(
    ("args", "check"),
    [
        ({"year_from": 2000, "year_to": 2010}, lambda row: 2000 <= row["year"] <= 2010),
        ({"journal": "bmj"}, lambda row: row["journal"] == "BMJ"),
        ({"journal": "J Test"}, lambda row: row["journal_iso"] == "J Test"),
        ({"mesh": "D003920"}, lambda row: row["mesh"][0]["ui"] == "D003920"),
        ({"mesh": "asthma"}, lambda row: row["mesh"][0]["name"] == "Asthma"),
        ({"pubtype": "review"}, lambda row: row["publication_types"] == ["Review"]),
        ({"has_abstract": "false"}, lambda row: not row["sections"]),
        ({"has_abstract": "true", "year_to": 2000}, lambda r: r["sections"] and r["year"] <= 2000),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_filters(client, rows_by_pmid, args, check, mode):
    q = "study patients results" if mode != "lexical" else "study"
    page = get(client, "/api/search", q=q, k=100, mode=mode, **args)
    expected = {p for p, row in rows_by_pmid.items() if check(row)}
    found = {r["pmid"] for r in page["results"]}
    assert found and found <= expected
    if mode == "dense":  # dense ranks the whole filtered set
        assert found == expected and page["total"] == len(expected)


# similar and article ---------------------------------------------------------------------


def test_similar(client, rows_by_pmid):
    pmid = min(rows_by_pmid)
    page = get(client, f"/api/articles/{pmid}/similar", k=6)
    check_page(page, rows_by_pmid, 6)
    assert page["pmid"] == pmid and page["mode"] == "similar"
    assert len(page["results"]) == 6 and pmid not in {r["pmid"] for r in page["results"]}
    second = get(client, f"/api/articles/{pmid}/similar", k=6, page=2)
    check_page(second, rows_by_pmid, 6, first_rank=7)
    assert not {r["pmid"] for r in page["results"]} & {r["pmid"] for r in second["results"]}
    filtered = get(client, f"/api/articles/{pmid}/similar", k=100, journal="The Lancet")
    assert filtered["results"]
    assert {rows_by_pmid[r["pmid"]]["journal"] for r in filtered["results"]} == {"The Lancet"}


def test_article_is_the_full_stored_record(client, rows_by_pmid):
    for pmid in sorted(rows_by_pmid)[:5]:
        row = rows_by_pmid[pmid]
        body = get(client, f"/api/articles/{pmid}")
        assert body["ok"] is True and body["pmid"] == pmid
        for key in ("title", "journal", "journal_iso", "year", "authors", "doi"):
            assert body[key] == row[key], key
        assert body["publication_types"] == row["publication_types"]
        assert [(s["label"], s["text"]) for s in body["sections"]] == [
            (s["label"], s["text"]) for s in row["sections"]
        ]
        assert body["abstract"] == _abstract(row)
        assert [(m["name"], m["ui"], m["major"]) for m in body["mesh"]] == [
            (m["name"], m["ui"], bool(m.get("major"))) for m in row["mesh"]
        ]
        assert all(m["qualifiers"] == [] for m in body["mesh"])  # the synthetic rows have none
        assert body["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
        assert body["version"] == 1


def test_health(client, tiny_model_dir, rows_by_pmid):
    body = get(client, "/api/health")
    assert body["ok"] is True
    assert body["documents"] == len(rows_by_pmid)
    assert body["vectors"] == len(rows_by_pmid)  # every synthetic article has a title
    assert body["model"] == str(tiny_model_dir)
    assert re.fullmatch(r"[0-9a-f]{12}", body["fingerprint"])
    assert body["index_version"] == 1 and body["index_type"]
    assert body["built_at"]


def test_concurrent_requests_match_sequential_ones(app):
    from concurrent.futures import ThreadPoolExecutor

    queries = [
        ("asthma", "hybrid"),
        ("insulin", "dense"),
        ("stroke", "lexical"),
        ("sepsis", "hybrid"),
    ]

    def run(item: tuple[str, str]) -> list[int]:
        response = app.test_client().get(
            "/api/search", query_string={"q": item[0], "mode": item[1]}
        )
        assert response.status_code == 200
        return [r["pmid"] for r in response.get_json()["results"]]

    expected = [run(item) for item in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(run, queries * 5))
    assert got == expected * 5


# OpenAPI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(tiny_index, web_engine) -> dict:
    from web import create_app

    app = create_app({"INDEX_DIR": str(tiny_index), "ENGINE": web_engine})
    return app.test_client().get("/api/openapi.json").get_json()


def validator(doc: dict, name: str) -> Draft202012Validator:
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"urn:openapi#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def test_openapi_document_is_valid_and_complete(openapi, app):
    assert openapi["openapi"].startswith("3.1")
    for schema in openapi["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    documented = {p.replace("{pmid}", "<pmid>") for p in openapi["paths"]}
    served = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert served == documented
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = rule.rule.replace("<pmid>", "{pmid}")
            methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
            assert methods == set(openapi["paths"][path]), path
    names = {p["name"] for p in openapi["paths"]["/api/search"]["get"]["parameters"]}
    assert names == set(SEARCH_PARAMS)
    similar = openapi["paths"]["/api/articles/{pmid}/similar"]["get"]["parameters"]
    assert {p["name"] for p in similar} == {"pmid", *SIMILAR_PARAMS}
    body = openapi["components"]["schemas"]["SearchRequest"]["properties"]
    assert set(body) == set(SEARCH_PARAMS)
    assert set(FILTER_PARAMS) < set(SIMILAR_PARAMS)


def test_real_responses_validate_against_the_openapi_schemas(client, openapi, rows_by_pmid):
    pmid = sorted(rows_by_pmid)[3]
    cases = [
        ("get", "/api/search", {"q": "stroke", "k": 3}, "ResultPage"),
        ("get", "/api/search", {"q": "zzzz", "mode": "lexical"}, "ResultPage"),
        ("post", "/api/search", {"q": "stroke", "k": 3, "has_abstract": True}, "ResultPage"),
        ("get", f"/api/articles/{pmid}", {}, "Article"),
        ("get", f"/api/articles/{pmid}/similar", {"k": 4}, "SimilarPage"),
        ("get", "/api/health", {}, "Health"),
        ("get", "/api/search", {"q": "x", "k": 0}, "Error"),
        ("get", "/api/articles/1", {}, "Error"),
        ("get", "/api/nowhere", {}, "Error"),
        ("delete", "/api/search", {}, "Error"),
    ]
    for method, path, args, schema in cases:
        if method == "post":
            response = client.post(path, json=args)
        else:
            response = client.open(path, method=method.upper(), query_string=args)
        body = response.get_json()
        errors = list(validator(openapi, schema).iter_errors(body))
        assert not errors, (path, args, [e.message for e in errors])
        status = str(response.status_code)
        operation = openapi["paths"].get(path.replace(str(pmid), "{pmid}"), {}).get(method)
        if operation:
            assert status in operation["responses"], (path, status)
    request_validator = validator(openapi, "SearchRequest")
    assert request_validator.is_valid({"q": "a", "k": 5, "has_abstract": True})
    assert not request_validator.is_valid({"q": "a", "bogus": 1})


def test_schema_validation_can_fail(openapi, client):
    """The schemas are strict enough to catch a wrong response."""
    page = get(client, "/api/search", q="stroke", k=2)
    page["results"][0]["pmid"] = "12"
    assert not validator(openapi, "ResultPage").is_valid(page)
    del page["results"][0]["pmid"]
    assert not validator(openapi, "ResultPage").is_valid(page)
    assert not validator(openapi, "Error").is_valid({"ok": False, "status": 400})


# hot reload --------------------------------------------------------------------------------

NEW_PMID = 777001


def _publish_new_version(index_dir: Path, tmp_path: Path, model_dir: Path) -> None:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    row = synthetic_articles(1, seed=99, first_pmid=NEW_PMID)[0]
    row["title"] = "Zebrafish xylophone quokka study"
    path = write_jsonl(tmp_path / "update.jsonl", [row])
    settings = BuildSettings(model=str(model_dir), max_length=128, show_progress=False)
    build(index_dir, [path], settings)


def test_hot_reload_picks_up_a_new_version(tiny_index, tiny_model_dir, tmp_path):
    from web import RELOADER, create_app

    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    app = create_app({"INDEX_DIR": str(index_dir), "RELOAD_INTERVAL": 0.05})
    client = app.test_client()
    try:
        assert client.get(f"/api/articles/{NEW_PMID}").status_code == 404
        _publish_new_version(index_dir, tmp_path, tiny_model_dir)
        time.sleep(0.1)
        assert client.get(f"/api/articles/{NEW_PMID}").status_code == 200
        assert get(client, "/api/health")["index_version"] == 2
        page = get(client, "/api/search", q="xylophone quokka", mode="lexical")
        assert [r["pmid"] for r in page["results"]] == [NEW_PMID]
        assert app.extensions[RELOADER].reload_now() is False  # nothing newer
    finally:
        app.extensions["pubmed_search"].close()


def test_reload_interval_zero_disables_the_check(tiny_index, tiny_model_dir, tmp_path):
    from web import RELOADER, create_app

    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    app = create_app({"INDEX_DIR": str(index_dir), "RELOAD_INTERVAL": 0})
    client = app.test_client()
    try:
        _publish_new_version(index_dir, tmp_path, tiny_model_dir)
        assert client.get(f"/api/articles/{NEW_PMID}").status_code == 404
        assert app.extensions[RELOADER].reload_now() is True  # what SIGHUP triggers
        assert client.get(f"/api/articles/{NEW_PMID}").status_code == 200
    finally:
        app.extensions["pubmed_search"].close()


# the serve command -------------------------------------------------------------------------


def test_serve_refuses_a_directory_without_an_index(runner, tmp_path):
    from pubmed_search.commands.serve import command

    result = runner.invoke(command, ["--index", str(tmp_path)])
    assert result.exit_code == 1
    assert "no published index" in result.output


def _fetch_json(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_model_override_must_match_the_index(tiny_index, tiny_model_dir, tiny_model_dir_b, runner):
    from pubmed_search.commands.serve import command
    from search.results import ModelMismatchError
    from web import create_app

    app = create_app({"INDEX_DIR": str(tiny_index), "MODEL": str(tiny_model_dir)})
    try:
        assert app.test_client().get("/api/search?q=asthma").status_code == 200
    finally:
        app.extensions["pubmed_search"].close()
    with pytest.raises(ModelMismatchError):
        create_app({"INDEX_DIR": str(tiny_index), "MODEL": str(tiny_model_dir_b)})
    result = runner.invoke(command, ["--index", str(tiny_index), "--model", str(tiny_model_dir_b)])
    assert result.exit_code == 1 and "fingerprint" in result.output


@pytest.mark.slow
def test_serve_runs_waitress_and_reloads_on_sighup(tiny_index, tiny_model_dir, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    proc, address = start_server(index_dir, "--reload-interval", "0")
    try:
        health = _fetch_json(address + "api/health")
        assert health["index_version"] == 1
        with pytest.raises(Exception, match="404"):
            _fetch_json(f"{address}api/articles/{NEW_PMID}")
        _publish_new_version(index_dir, tmp_path, tiny_model_dir)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while _fetch_json(address + "api/health")["index_version"] != 2:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.1)
        assert _fetch_json(f"{address}api/articles/{NEW_PMID}")["pmid"] == NEW_PMID
    finally:
        stop_server(proc)
    assert proc.returncode == 0
