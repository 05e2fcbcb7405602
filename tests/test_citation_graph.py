"""Retractions and the citation graph inside an index built by the product's build() from
PubMed XML: a baseline, then daily updates that bring a retraction notice without re-sending
its target, an article citing an old one, the target revised (the retraction reversed) and a
deleted notice (``tests/fixtures/citations.py`` describes the collection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.citations import YEARS


def _client(index: Path):
    from web import create_app

    app = create_app({"INDEX_DIR": str(index), "RELOAD_INTERVAL": 0})
    return app.test_client()


@pytest.fixture(scope="module")
def clients(citation_versions):
    return {name: _client(path) for name, path in citation_versions.items()}


def get(client, path: str, **args) -> dict:
    response = client.get(path, query_string=args)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pmids(page: dict) -> list[int]:
    return [r["pmid"] for r in page["results"]]


def standing(client, pmid: int) -> dict:
    a = get(client, f"/api/articles/{pmid}")
    return {k: a[k] for k in ("retracted", "retraction_notices", "expression_of_concern")}


# retractions ------------------------------------------------------------------------------


def test_own_record_and_notice_marks_in_the_baseline(clients) -> None:
    c = clients["base"]
    assert standing(c, 105) == {
        "retracted": True,
        "retraction_notices": [201],
        "expression_of_concern": False,
    }
    assert standing(c, 106)["retracted"] and standing(c, 106)["retraction_notices"] == []
    concern = get(c, "/api/articles/107")
    assert concern["expression_of_concern"] and concern["concern_notices"] == [108]
    assert not concern["retracted"]
    for plain in (101, 102, 108, 109):
        assert standing(c, plain)["retracted"] is False, plain


def test_a_notice_in_an_update_marks_its_target_without_the_target_resent(clients) -> None:
    assert standing(clients["base"], 101)["retracted"] is False
    assert standing(clients["u1"], 101) == {
        "retracted": True,
        "retraction_notices": [110],
        "expression_of_concern": False,
    }
    hit = next(
        r for r in get(clients["u1"], "/api/search", q="budesonide")["results"] if r["pmid"] == 101
    )
    assert hit["retracted"] and hit["retraction_notices"] == [110]


def test_a_revised_target_reverses_the_retraction_and_a_deleted_notice_counts_no_more(
    clients,
) -> None:
    assert standing(clients["u2"], 101)["retracted"] is False  # 101 newer than notice 110
    assert standing(clients["u3"], 101)["retraction_notices"] == [112]  # a newer notice
    assert standing(clients["u4"], 101)["retracted"] is False  # 112 deleted


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_exclude_retracted_in_every_mode(clients, mode) -> None:
    c = clients["u1"]
    everything = pmids(get(c, "/api/search", q="asthma sepsis budesonide", mode=mode, k=50))
    assert {101, 105} <= set(everything)
    kept = get(
        c, "/api/search", q="asthma sepsis budesonide", mode=mode, k=50, exclude_retracted="1"
    )
    assert not {101, 105, 106} & set(pmids(kept))
    rest = [p for p in everything if p not in (101, 105, 106)]
    if mode == "hybrid":  # fusion ranks the rest anew (their ranks on each side moved up)
        assert set(pmids(kept)) == set(rest)
    else:  # a filter leaves the order of the rest as it was
        assert pmids(kept) == rest


# the citation graph ---------------------------------------------------------------------


def test_references_in_reference_order_with_filters(clients) -> None:
    c = clients["base"]
    assert pmids(get(c, "/api/articles/104/references")) == [102, 103]  # 999 is not held
    assert pmids(get(c, "/api/articles/104/references", pubtype="Review")) == [103]
    page2 = get(c, "/api/articles/104/references", k=1, page=2)
    assert pmids(page2) == [103] and page2["total"] == 2
    assert get(c, "/api/articles/104")["references_in_index"] == 2


def test_cited_by_newest_first_and_a_new_citer_appears_at_the_next_version(clients) -> None:
    assert pmids(get(clients["base"], "/api/articles/102/cited-by")) == [104, 101]
    assert pmids(get(clients["u1"], "/api/articles/102/cited-by")) == [111, 104, 101]
    assert get(clients["base"], "/api/articles/101")["cited_by"] == 0
    assert get(clients["u1"], "/api/articles/101")["cited_by"] == 1
    hit = next(
        r
        for r in get(clients["u1"], "/api/search", q="inflammation eosinophils")["results"]
        if r["pmid"] == 102
    )
    assert hit["cited_by"] == 3


def test_similar_by_citations_and_both(clients) -> None:
    c = clients["u1"]
    by_citations = pmids(get(c, "/api/articles/101/similar", by="citations"))
    # linked (cited by 111; cites 102, 103) and coupled (104 shares 102 and 103)
    assert set(by_citations) == {102, 103, 104, 111}
    assert 101 not in by_citations
    both = pmids(get(c, "/api/articles/101/similar", by="both", k=20))
    assert set(by_citations) <= set(both) and 101 not in both
    bad = c.get("/api/articles/101/similar", query_string={"by": "friends"})
    assert bad.status_code == 400 and "by" in bad.get_json()["error"]


def test_unknown_article_is_404(clients) -> None:
    for path in ("/api/articles/4242/references", "/api/articles/4242/cited-by"):
        response = clients["base"].get(path)
        assert response.status_code == 404 and response.get_json()["ok"] is False


# the UI -----------------------------------------------------------------------------------


def test_badges_counts_and_links_in_the_ui(clients) -> None:
    c = clients["u1"]
    html = c.get("/articles/101").get_data(as_text=True)
    assert "badge-retracted" in html and "/articles/110" in html
    assert "/articles/101/cited-by" in html and "/articles/101/references" in html
    results = c.get("/search", query_string={"q": "budesonide"}).get_data(as_text=True)
    assert "badge-retracted" in results
    cited = c.get("/articles/102/cited-by").get_data(as_text=True)
    assert cited.index("pmid-111") < cited.index("pmid-104") < cited.index("pmid-101")
    refs = c.get("/articles/104/references").get_data(as_text=True)
    assert "pmid-102" in refs and "pmid-103" in refs and "format=ris" in refs
    header = c.get("/articles/109").get_data(as_text=True).split("<h1")[0]
    assert "badge" not in header  # (its similar articles may be retracted and say so)


# the MCP tools --------------------------------------------------------------------------------


def test_mcp_references_and_cited_by_tools_answer_what_the_api_answers(
    citation_versions, clients
) -> None:
    import anyio
    from mcp import Client

    from mcp_server.server import build_server
    from search import SearchEngine

    with SearchEngine.open(citation_versions["u1"]) as engine:
        server = build_server(engine, reload_interval=0)

        async def calls() -> tuple:
            async with Client(server) as c:
                return (
                    await c.call_tool("references", {"pmid": 104, "passages": False}),
                    await c.call_tool("cited_by", {"pmid": 102, "k": 2, "passages": False}),
                    await c.call_tool("cited_by", {"pmid": 102, "by": "citations"}),
                    await c.call_tool("similar", {"pmid": 101, "by": "citations"}),
                )

        refs, cited, bad, similar = anyio.run(calls)
    assert pmids(refs.structured_content) == [102, 103]
    assert pmids(cited.structured_content) == [111, 104] and cited.structured_content["has_next"]
    api = get(clients["u1"], "/api/articles/102/cited-by", k=2)
    assert pmids(api) == pmids(cited.structured_content)
    assert bad.is_error and "by: unknown parameter" in bad.content[0].text
    assert set(pmids(similar.structured_content)) == {102, 103, 104, 111}
    assert "Cite: " in refs.content[0].text


# exports and citations of built records -----------------------------------------------------


def test_api_exports_and_citations_carry_volume_issue_pages(clients) -> None:
    import io

    import rispy
    from Bio import Medline

    c = clients["base"]
    args = {"q": "asthma airway", "mode": "lexical", "k": 5}
    page = get(c, "/api/search", **args)
    assert len(page["results"]) >= 3
    for r in page["results"]:
        pmid = r["pmid"]
        source = f"J Test. {YEARS.get(pmid, 2015)} Mar;{pmid % 50}(2):{pmid}-9."
        assert source in r["citation"] and r["citation"].endswith(f"PMID: {pmid}.")
    ris = c.get("/api/search", query_string={**args, "format": "ris"}).get_data(as_text=True)
    entries = rispy.loads(ris.replace("\r\n", "\n"))
    nbib = c.get("/api/search", query_string={**args, "format": "medline"}).get_data(as_text=True)
    records = list(Medline.parse(io.StringIO(nbib)))
    for r, entry, rec in zip(page["results"], entries, records, strict=True):
        pmid = r["pmid"]
        assert (entry["volume"], entry["number"]) == (str(pmid % 50), "2")
        # MEDLINE abbreviates the last page: 102-9 is 102-109
        assert (entry["start_page"], entry["end_page"]) == (str(pmid), str(pmid)[:-1] + "9")
        assert rec["PMID"] == str(pmid) and rec["PG"] == f"{pmid}-9" and rec["VI"] == str(pmid % 50)
        assert rec["DP"] == f"{YEARS.get(pmid, 2015)} Mar"


def test_cli_marks_retracted_results_and_excludes_them(citation_versions) -> None:
    from click.testing import CliRunner

    from pubmed_search.commands.query import command

    args = ["--index", str(citation_versions["u1"]), "--mode", "lexical", "-k", "20"]
    shown = CliRunner().invoke(command, [*args, "budesonide asthma sepsis"])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if "PMID 101 " in x)
    assert line.endswith("[RETRACTED]")
    kept = CliRunner().invoke(command, [*args, "--exclude-retracted", "budesonide asthma sepsis"])
    assert kept.exit_code == 0 and "PMID 101 " not in kept.output and "PMID 102 " in kept.output
