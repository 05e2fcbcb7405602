"""The MCP server (mcp_server/) with the official SDK's own client: in-process (tool list and
schemas from the parameter declaration, each tool against the API's answer, bad arguments,
unknown PMIDs, an engine failure), over stdio as a subprocess, and over streamable HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from jsonschema import Draft202012Validator
from mcp import Client, StdioServerParameters  # the mcp extra: missing, the module fails

from mcp_server.schemas import TOOL_DEFAULTS, input_schema, tool_params
from mcp_server.server import build_server
from mcp_server.tools import NOT_A_PMID
from search.params import PARAM, params_of
from tests.fixtures.common import REPO
from web.errors import INTERNAL_MESSAGE
from web.openapi import body_schema

TOOLS = {"search", "get_article", "similar", "references", "cited_by"}
VOLATILE = ("took_ms",)
CALL_TIMEOUT = 120


def run(fn: Callable[[Client], Awaitable[Any]], server: Any) -> Any:
    async def main() -> Any:
        with anyio.fail_after(CALL_TIMEOUT):
            async with Client(server) as client:
                return await fn(client)

    return anyio.run(main)


@pytest.fixture
def server(web_engine):
    return build_server(web_engine, reload_interval=0)


def _stable(page: dict) -> dict:
    return {k: v for k, v in page.items() if k not in VOLATILE}


# --- schemas ------------------------------------------------------------------------------


def test_tools_and_schemas_come_from_the_parameter_declaration(server) -> None:
    tools = {t.name: t for t in run(lambda c: c.list_tools(), server).tools}
    assert set(tools) == TOOLS
    left_out = {
        "search": {"format", "rerank"},
        "similar": {"format"},
        "references": {"format", "by", "nprobe", "ef_search"},
        "cited_by": {"format", "by", "nprobe", "ef_search"},
    }
    for name, skipped in left_out.items():
        schema = tools[name].input_schema
        Draft202012Validator.check_schema(schema)
        declared = [p.name for p in tool_params(name, can_rerank=False)]
        expected = declared if name == "search" else ["pmid", *declared]
        assert list(schema["properties"]) == expected
        endpoint = "search" if name == "search" else "similar"
        assert {p.name for p in params_of(endpoint)} - set(declared) == skipped
        assert schema["additionalProperties"] is False
        for pname in declared:
            prop, param = schema["properties"][pname], PARAM[pname]
            assert prop["description"].startswith(param.help)
            assert prop.get("default") == TOOL_DEFAULTS.get(pname, param.default)
            if param.kind == "int":
                assert (prop["minimum"], prop["maximum"]) == (param.minimum, param.maximum)
            if param.kind == "choice":
                assert prop["enum"] == list(param.choices)
            if param.kind == "text":
                assert prop["maxLength"] == param.max_chars
    assert tools["search"].input_schema["required"] == ["q"]
    assert tools["get_article"].input_schema["required"] == ["pmid"]


def _samples(prop: dict) -> list[Any]:
    if "enum" in prop:
        return list(prop["enum"])
    if prop["type"] == "integer":
        return [prop["minimum"], prop["maximum"]]
    if prop["type"] == "boolean":
        return [True, False]
    return ["asthma", "x" * prop["maxLength"]]


def test_every_value_a_tool_schema_admits_the_api_body_schema_admits() -> None:
    for param in tool_params("search", can_rerank=False):
        prop = input_schema("search")["properties"][param.name]
        api = Draft202012Validator(body_schema(param))
        tool = Draft202012Validator(prop)
        for value in _samples(prop):
            assert tool.is_valid(value) and api.is_valid(value), (param.name, value)


# --- calls in-process ---------------------------------------------------------------------


def test_search_tool_answers_what_the_api_answers(server, client) -> None:
    args = {"q": "asthma budesonide", "k": 4, "mode": "hybrid", "year_from": 1995}
    result = run(lambda c: c.call_tool("search", args), server)
    assert not result.is_error
    page = result.structured_content
    api = client.post("/api/search", json={**args, "passages": True}).get_json()
    assert _stable(page) == _stable(api) and page["results"]
    text = result.content[0].text
    for r in page["results"]:
        assert f"PMID {r['pmid']}" in text and r["url"] in text and r["title"] in text
        if r["passage"]:
            assert r["passage"]["text"] in text
    assert any(r["passage"] for r in page["results"]), "passages are on by default"
    off = run(lambda c: c.call_tool("search", {"q": "asthma", "passages": False}), server)
    assert all(r["passage"] is None for r in off.structured_content["results"])


def test_get_article_and_similar_tools(server, client) -> None:
    pmid = client.get("/api/search?q=insulin&mode=lexical").get_json()["results"][0]["pmid"]

    async def calls(c: Client) -> tuple:
        return (
            await c.call_tool("get_article", {"pmid": pmid}),
            await c.call_tool("similar", {"pmid": pmid, "k": 3, "passages": False}),
        )

    article, similar = run(calls, server)
    assert not article.is_error and not similar.is_error
    assert article.structured_content == client.get(f"/api/articles/{pmid}").get_json()
    api = client.get(f"/api/articles/{pmid}/similar?k=3").get_json()
    assert _stable(similar.structured_content) == _stable(api)
    assert len(similar.structured_content["results"]) == 3


BAD_SEARCHES = [
    {"q": "asthma", "k": 0},
    {"q": "   "},
    {"k": 3},
    {"q": "asthma", "mode": "semantic"},
    {"q": "asthma[ti", "syntax": "pubmed"},
    {"q": "asthma", "year_from": 2010, "year_to": 2000},
    {"q": "asthma", "page": 1000, "k": 100},
]


@pytest.mark.parametrize("args", BAD_SEARCHES)
def test_bad_search_arguments_are_tool_errors_with_the_api_message(server, client, args) -> None:
    result = run(lambda c: c.call_tool("search", args), server)
    api = client.post("/api/search", json=args)
    assert api.status_code == 400
    assert result.is_error and result.content[0].text == api.get_json()["error"]


def test_other_tool_errors(server) -> None:
    async def calls(c: Client) -> list:
        return [
            await c.call_tool("search", {"q": "asthma", "colour": "red"}),
            await c.call_tool("search", {"q": "asthma", "format": "ris"}),
            await c.call_tool("get_article", {"pmid": 1}),
            await c.call_tool("get_article", {"pmid": "abc"}),
            await c.call_tool("get_article", {}),
            await c.call_tool("similar", {"pmid": 2}),
            await c.call_tool("no_such_tool", {}),
            await c.call_tool("search", {"q": "asthma", "k": 2}),
        ]

    *errors, ok = run(calls, server)
    assert all(e.is_error for e in errors) and not ok.is_error
    texts = [e.content[0].text for e in errors]
    assert texts[0].startswith("colour: unknown parameter (known: q, mode,")
    assert texts[1].startswith("format: unknown parameter")
    assert texts[2] == "pmid: no article with PMID 1 in the index"
    assert texts[3] == texts[4] == NOT_A_PMID
    assert texts[5].startswith("PMID 2 is not in the index")
    assert texts[6].startswith("tool: no tool named 'no_such_tool'")


def test_an_engine_failure_is_a_tool_error_and_the_server_lives_on(server, web_engine, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire at /secret/path")

    async def calls(c: Client) -> tuple:
        with monkeypatch.context() as m:
            m.setattr(web_engine, "search", broken)
            failed = await c.call_tool("search", {"q": "asthma"})
        return failed, await c.call_tool("search", {"q": "asthma"})

    failed, after = run(calls, server)
    assert failed.is_error and failed.content[0].text == INTERNAL_MESSAGE
    assert "secret" not in failed.content[0].text
    assert not after.is_error and after.structured_content["results"]


# --- transports ---------------------------------------------------------------------------


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


async def _exercise(c: Client) -> tuple:
    tools = await c.list_tools()
    found = await c.call_tool("search", {"q": "stroke thrombolysis", "k": 2})
    bad = await c.call_tool("search", {"q": "stroke", "k": 101})
    return {t.name for t in tools.tools}, found, bad


def _check(outcome: tuple) -> None:
    names, found, bad = outcome
    assert names == TOOLS
    assert not found.is_error and len(found.structured_content["results"]) == 2
    assert all(r["passage"] for r in found.structured_content["results"] if r["passage"])
    assert bad.is_error and bad.content[0].text.startswith("k: must be between 1 and 100")


def test_stdio_subprocess(tiny_index: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pubmed_search", "mcp", "--index", str(tiny_index)],
        env=_env(),
        cwd=str(REPO),
    )
    _check(run(_exercise, params))


def test_streamable_http_on_loopback(tiny_index: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pubmed_search", "mcp", "--index", str(tiny_index), "--http", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=_env(),
        cwd=str(REPO),
    )
    try:
        url, lines, deadline = None, [], time.monotonic() + CALL_TIMEOUT
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", line)
            url = m.group(1) if m else None
        assert url, "no address printed:\n" + "".join(lines)
        _check(run(_exercise, url))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_cli_failures_are_one_line_and_an_exit_code(tiny_index: Path, tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from pubmed_search.cli import cli

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = str(busy.getsockname()[1])
        taken = CliRunner().invoke(cli, ["mcp", "--index", str(tiny_index), "--http", port])
    finally:
        busy.close()
    assert taken.exit_code == 1 and taken.output.startswith("Error: ")
    assert len(taken.output.strip().splitlines()) == 1 and "in use" in taken.output
    empty = tmp_path / "not-an-index"
    empty.mkdir()
    missing = CliRunner().invoke(cli, ["mcp", "--index", str(empty)])
    assert missing.exit_code != 0 and missing.output.startswith("Error: ")
    assert len(missing.output.strip().splitlines()) == 1
