"""The search parameters are declared once (``search.params.PARAMS``): the API parser, the
OpenAPI schemas, the CLI options and the one JSON shape all follow that declaration."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from search.params import PARAM, PARAMS, Param, names_of, params_of
from web.openapi import openapi_document
from web.params import SEARCH_PARAMS, SIMILAR_PARAMS, ParamError, parse_params

TYPED = [p for p in PARAMS if p.kind != "text"]
PATHS = {"search": "/api/search", "similar": "/api/articles/{pmid}/similar"}
TIMING = ("took_ms", "rerank_ms")


def _doc() -> dict:
    return json.loads(json.dumps(openapi_document()))  # as served: JSON types only


def _query_validator(endpoint: str, name: str) -> Draft202012Validator:
    params = _doc()["paths"][PATHS[endpoint]]["get"]["parameters"]
    (schema,) = [p["schema"] for p in params if p["name"] == name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _body_validator() -> Draft202012Validator:
    doc = _doc()
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    schema = {"$ref": "urn:openapi#/components/schemas/SearchRequest"}
    return Draft202012Validator(schema, registry=registry)


BODY = _body_validator()
QUERY = {(e, p.name): _query_validator(e, p.name) for e in PATHS for p in params_of(e)}


def _accepts(endpoint: str, name: str, value: object, strict: bool) -> bool:
    """Whether the parser takes ``value`` for ``name`` (other parameters valid)."""
    source = {name: value} if endpoint == "similar" or name == "q" else {"q": "x", name: value}
    try:
        parse_params(source, need_query=endpoint == "search", strict=strict, can_rerank=True)
    except ParamError as e:
        assert e.param == name, e
        return False
    return True


# --- the declaration -------------------------------------------------------------------------


def test_the_declaration_names_every_parameter_of_both_endpoints() -> None:
    assert (
        SEARCH_PARAMS
        == names_of("search")
        == tuple(p.name for p in PARAMS if "search" in p.endpoints)
    )
    assert [p.name for p in PARAMS if "search" not in p.endpoints] == ["by"]
    assert tuple(p.name for p in PARAMS if "similar" in p.endpoints) == SIMILAR_PARAMS
    assert {"q", "mode", "rerank"}.isdisjoint(SIMILAR_PARAMS)
    for p in PARAMS:
        assert p.help.strip() and p.help.endswith(".")
        if p.kind in ("choice", "bool"):
            assert all(w == w.strip().lower() for w in p.words) and "" in p.words
    assert PARAM["has_abstract"].words == (
        *("true", "1", "yes", "on"),
        *("false", "0", "no", "off"),
        *("", "any"),
    )


def test_engine_checks_use_the_declared_bounds() -> None:
    from search.params import check_knobs, check_page, check_query

    check_page(PARAM["k"].maximum, 1)
    with pytest.raises(ValueError, match=f"k: must be an integer from 1 to {PARAM['k'].maximum}"):
        check_page(PARAM["k"].maximum + 1, 1)
    check_query("x" * PARAM["q"].max_chars)
    with pytest.raises(ValueError, match="query: at most"):
        check_query("x" * (PARAM["q"].max_chars + 1))
    for name in ("nprobe", "ef_search"):
        top = PARAM[name].maximum
        check_knobs(**{"nprobe": None, "ef_search": None, name: top})
        with pytest.raises(ValueError, match=f"{name}: must be an integer from 1 to {top}"):
            check_knobs(**{"nprobe": None, "ef_search": None, name: top + 1})


def test_the_lexical_index_reads_the_declared_query_length() -> None:
    from indexer.lexical import analysis

    assert PARAM["q"].max_chars == analysis.MAX_QUERY_CHARS


# --- parser vs OpenAPI: what the parser accepts, the schema accepts ---------------------------

SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", "\u3000", "\x1f", "\xa0", "\ufeff"])
CASE = st.sampled_from([str, str.upper, str.title, str.swapcase])


def words_of(param: Param) -> st.SearchStrategy[str]:
    """The declared words in any case with any padding, and other short text."""
    word = st.sampled_from([*param.words, "maybe", "hybrid", "2", "tru", "\u212aey"])
    variant = st.builds(lambda s, c, w, e: s + c(w) + e, SPACE, CASE, word, SPACE)
    return variant | st.text(max_size=6)


def ints_of(param: Param) -> st.SearchStrategy[int]:
    assert param.minimum is not None and param.maximum is not None
    near = st.integers(param.minimum - 3, param.maximum + 3)
    return near | st.integers(-(10**13), 10**13)


def json_values(param: Param) -> st.SearchStrategy[object]:
    common = st.none() | st.booleans() | st.floats() | st.lists(st.integers(), max_size=1)
    if param.kind == "int":
        text = st.builds(lambda s, n, e: f"{s}{n}{e}", SPACE, ints_of(param), SPACE)
        return common | ints_of(param) | text | st.text(max_size=4)
    return common | words_of(param) | st.integers(-2, 2)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), param=st.sampled_from(TYPED))
def test_query_string_values_the_parser_accepts_are_the_schemas(data, param) -> None:
    """GET parameters: the parser accepts a value exactly when its schema does (integers as
    OpenAPI serializes them: decimal text)."""
    for endpoint in param.endpoints:
        schema = QUERY[(endpoint, param.name)]
        if param.kind == "int":
            number = data.draw(ints_of(param))
            accepted = _accepts(endpoint, param.name, str(number), False)
            valid = schema.is_valid(number)
        else:
            text = data.draw(words_of(param))
            accepted, valid = _accepts(endpoint, param.name, text, False), schema.is_valid(text)
        assert accepted == valid, (endpoint, param.name, data)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), param=st.sampled_from([p for p in TYPED if "search" in p.endpoints]))
def test_json_body_values_the_parser_accepts_validate_against_search_request(data, param):
    """POST bodies: a value the parser accepts validates against SearchRequest, so a value the
    schema rejects is refused. Conversely, a JSON integer, boolean or null the schema admits
    is accepted (only integers as text are checked for their bounds by the parser alone)."""
    value = data.draw(json_values(param))
    body = {"q": "asthma", param.name: value}
    accepted, valid = _accepts("search", param.name, value, True), BODY.is_valid(body)
    if accepted:
        assert valid, (param.name, value, [e.message for e in BODY.iter_errors(body)])
    exact = value is None or isinstance(value, bool) or type(value) is int
    if exact or (isinstance(value, str) and param.kind != "int"):
        assert accepted == valid, (param.name, value)


def test_has_abstract_and_rerank_schemas_list_the_parsers_words() -> None:
    for name in ("has_abstract", "rerank"):
        schema = QUERY[("search", name)].schema
        (enum,) = [s["enum"] for s in schema["anyOf"] if "enum" in s]
        assert enum == list(PARAM[name].words)
        for word in (*enum, "TRUE", " Off ", "Any"):
            assert _accepts("search", name, word, False) and schema_ok(name, word)
        assert not _accepts("search", name, "maybe", False) and not schema_ok(name, "maybe")


def schema_ok(name: str, value: object) -> bool:
    return QUERY[("search", name)].is_valid(value)


def test_text_limits_are_the_declared_ones() -> None:
    for p in (p for p in PARAMS if p.kind == "text"):
        schema = QUERY[("search", p.name)].schema
        assert schema["maxLength"] == p.max_chars
        assert _accepts("search", p.name, "a" * p.max_chars, True)
        assert not _accepts("search", p.name, "a" * (p.max_chars + 1), True)


# --- CLI options ------------------------------------------------------------------------------


def test_cli_query_options_are_the_declaration() -> None:
    from pubmed_search.commands.query import command

    options = {o.name: o for o in command.params if isinstance(o, click.Option)}
    declared = [p for p in PARAMS if p.cli]
    assert {p.name for p in declared} <= set(options)
    assert {p.name for p in declared} == {"mode", "syntax", "facets", "k", "page",
                                          *names_of("search", "filter"),
                                          "nprobe", "ef_search", "passages", "prf"}  # fmt: skip
    for p in declared:
        option = options[p.name]
        flags = p.cli.split("/")
        assert [*option.opts, *option.secondary_opts] == flags, p.name
        assert option.default == p.default and option.help == p.help
        if p.kind == "int":
            assert isinstance(option.type, click.IntRange)
            assert (option.type.min, option.type.max) == (p.minimum, p.maximum)
        elif p.kind == "choice":
            assert isinstance(option.type, click.Choice)
            assert tuple(option.type.choices) == p.choices
        elif p.kind == "bool":
            assert option.is_flag and option.default is p.default
    # the CLI-only options are still there
    assert {"index_dir", "model", "device", "rerank_model", "rerank_top_n", "as_json"} <= set(
        options
    )


def test_cli_refuses_what_the_declaration_refuses(tiny_index) -> None:
    from pubmed_search.cli import cli

    run = CliRunner()
    for args in (
        ["--year-from", "0"],
        ["-k", str(PARAM["k"].maximum + 1)],
        ["--page", str(PARAM["page"].maximum + 1)],
        ["--mode", "fuzzy"],
        ["-k", "100", "--page", "101"],  # page * k over MAX_DEPTH, as the API
    ):
        res = run.invoke(cli, ["query", "--index", str(tiny_index), *args, "asthma"])
        assert res.exit_code == 2, (args, res.output)
    long = "a" * (PARAM["q"].max_chars + 1)
    res = run.invoke(cli, ["query", "--index", str(tiny_index), long])
    assert res.exit_code == 2 and "at most 1000 characters" in res.output


# --- one JSON shape ---------------------------------------------------------------------------


def _without_timing(page: dict) -> dict:
    return {key: value for key, value in page.items() if key not in TIMING}


@pytest.mark.parametrize(
    "args,query",
    [
        ({}, {}),
        ({"--mode": "lexical", "-k": "3", "--page": "2"}, {"mode": "lexical", "k": 3, "page": 2}),
        (
            {"--mode": "dense", "--year-from": "2000", "--mesh": "Asthma", "-k": "4"},
            {"mode": "dense", "year_from": 2000, "mesh": "Asthma", "k": 4},
        ),
        ({"--facets": None, "--journal": "BMJ"}, {"facets": "1", "journal": "BMJ"}),
        (
            {"--syntax": "pubmed", "--facets": None, "--mode": "lexical"},
            {"syntax": "pubmed", "facets": "true", "mode": "lexical"},
        ),
    ],
)
def test_cli_json_is_the_api_body(tiny_index, client, args, query) -> None:
    from pubmed_search.cli import cli

    pubmed = query.get("syntax") == "pubmed"
    text = "asthma[tiab] AND (inhaled OR budesonide)" if pubmed else "asthma inhaled budesonide"
    flags = [x for item in args.items() for x in item if x is not None]
    res = CliRunner().invoke(cli, ["query", "--index", str(tiny_index), *flags, "--json", text])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    response = client.get("/api/search", query_string={"q": text, **query})
    assert response.status_code == 200
    served = response.get_json()
    assert set(printed) == set(served) and "results" in printed and "hits" not in printed
    assert _without_timing(printed) == _without_timing(served)
    assert printed["results"], "the comparison should cover some results"
    assert printed["syntax"] == query.get("syntax", "plain")
    if "facets" in query:  # the same counts, computed over the whole match set
        assert printed["facets"]["year"] and printed["facets"]["journal"]
    else:
        assert printed["facets"] is None


def test_cli_json_no_abstract_flag(tiny_index, client) -> None:
    from pubmed_search.cli import cli

    cmd = ["query", "--index", str(tiny_index), "--no-abstract", "--json", "trial"]
    res = CliRunner().invoke(cli, cmd)
    assert res.exit_code == 0, res.output
    served = client.get("/api/search", query_string={"q": "trial", "has_abstract": "false"})
    assert _without_timing(json.loads(res.stdout)) == _without_timing(served.get_json())
