"""Hypothesis fuzzing of every parameter of every endpoint: always 2xx/4xx, never 500, and
always a documented body (validated against the OpenAPI schemas)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from web.exports import EXPORTS
from web.params import SEARCH_PARAMS, SIMILAR_PARAMS, ParamError, parse_params

NASTY = [
    '" OR 1=1 --',
    "'; DROP TABLE articles; --",
    "NEAR(",
    "NEAR(asthma insulin, 2)",
    "*",
    "asthma*",
    '"',
    "a AND NOT b OR",
    "title:asthma",
    "^asthma",
    "(((",
    "../../etc/passwd",
    "..%2f..%2f",
    "%00",
    "\x00",
    "\\",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "\u202e\u200b\ufeff",
    "𝔞𝔰𝔱𝔥𝔪𝔞 🫁",
    "-1",
    "0",
    "1e309",
    "NaN",
    "9" * 30,
    " ",
    "",
]
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=1200),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.integers(min_value=1, max_value=100).map(str),
    st.sampled_from(["hybrid", "dense", "lexical", "json", "csv", "ris", "bibtex"]),
    st.sampled_from(["true", "false", "2001", "BMJ", "Review", "D001249", "Asthma"]),
    st.sampled_from(["pubmed", "plain", " PubMed ", "PLAIN", "lucene", "asthma[ti]", "a[xx]"]),
)
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_client(tiny_index, web_engine):
    from web import create_app

    return create_app({"INDEX_DIR": str(tiny_index), "ENGINE": web_engine}).test_client()


@pytest.fixture(scope="module")
def schemas(fuzz_client) -> dict[str, Draft202012Validator]:
    doc = fuzz_client.get("/api/openapi.json").get_json()
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return {
        name: Draft202012Validator(
            {"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=registry
        )
        for name in doc["components"]["schemas"]
    }


@pytest.fixture(scope="module")
def a_pmid(tiny_corpus) -> int:
    return tiny_corpus[1][5]["pmid"]


def check(response, schemas, ok_schema: str) -> None:
    status = response.status_code
    assert status < 500, (status, response.data[:300])
    assert 200 <= status < 300 or 400 <= status < 500
    content_type = response.headers["Content-Type"]
    if status == 200 and content_type != "application/json":
        assert content_type in {ct for ct, _, _ in EXPORTS.values()}
        return
    assert content_type == "application/json"
    body = response.get_json()
    validator = schemas[ok_schema] if status == 200 else schemas["Error"]
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (status, body, errors)
    if status != 200:
        assert body["status"] == status


def params_for(names):
    return st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names))


@FUZZ
@given(args=params_for(SEARCH_PARAMS))
def test_fuzz_search_get(fuzz_client, schemas, args):
    check(fuzz_client.get("/api/search", query_string=args), schemas, "ResultPage")


@FUZZ
@given(args=params_for(SEARCH_PARAMS), q=st.sampled_from(NASTY[:14]) | st.text(max_size=20))
def test_fuzz_search_get_with_a_query(fuzz_client, schemas, args, q):
    """The same, but with a query present so the later parameters are reached."""
    response = fuzz_client.get("/api/search", query_string={**args, "q": q + " asthma"})
    check(response, schemas, "ResultPage")


@FUZZ
@given(
    args=params_for(SEARCH_PARAMS),
    q=st.sampled_from(NASTY) | st.text(max_size=30),
    syntax=st.sampled_from(["pubmed", "PubMed", " pubmed\t"]),
)
def test_fuzz_search_get_with_pubmed_syntax(fuzz_client, schemas, args, q, syntax):
    """Any text as a PubMed expression, with any other parameters: results or a 400."""
    query = {**args, "q": q + " asthma[tiab]", "syntax": syntax}
    check(fuzz_client.get("/api/search", query_string=query), schemas, "ResultPage")


@FUZZ
@given(body=st.dictionaries(st.sampled_from([*SEARCH_PARAMS, "x"]), JSON_VALUES, max_size=6))
def test_fuzz_search_post(fuzz_client, schemas, body):
    body.setdefault("q", "insulin")
    check(fuzz_client.post("/api/search", json=body), schemas, "ResultPage")


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_search_post_raw_bytes(fuzz_client, schemas, raw):
    response = fuzz_client.post("/api/search", data=raw, content_type="application/json")
    check(response, schemas, "ResultPage")


@FUZZ
@given(args=params_for(SIMILAR_PARAMS))
def test_fuzz_similar(fuzz_client, schemas, a_pmid, args):
    response = fuzz_client.get(f"/api/articles/{a_pmid}/similar", query_string=args)
    check(response, schemas, "SimilarPage")


@FUZZ
@given(segment=st.sampled_from(NASTY) | st.text(min_size=1, max_size=30) | st.integers().map(str))
def test_fuzz_pmid_path(fuzz_client, schemas, segment):
    path = quote(segment, safe="")
    check(fuzz_client.get(f"/api/articles/{path}"), schemas, "Article")
    check(fuzz_client.get(f"/api/articles/{path}/similar"), schemas, "SimilarPage")


@FUZZ
@given(path=st.text(max_size=40))
def test_fuzz_unknown_api_paths(fuzz_client, schemas, path):
    response = fuzz_client.get("/api/x" + quote(path, safe=""))
    check(response, schemas, "Health")
    assert response.status_code == 404


@settings(max_examples=300, deadline=None)
@given(source=st.dictionaries(st.sampled_from([*SEARCH_PARAMS, "zz"]), JSON_VALUES | VALUES))
def test_parse_params_raises_only_param_errors(source):
    """The parser never fails with anything but a ParamError naming a real parameter."""
    for strict in (False, True):
        try:
            params = parse_params(source, strict=strict)
        except ParamError as e:
            assert e.param in (*SEARCH_PARAMS, "zz")
            assert str(e).startswith(e.param + ":")
        else:
            assert 1 <= params.k <= 100 and params.page >= 1 and params.k * params.page <= 10_000
            assert params.q and params.q == params.q.strip() and len(params.q) <= 1000
            f = params.filters
            if f.year_from is not None and f.year_to is not None:
                assert f.year_from <= f.year_to
