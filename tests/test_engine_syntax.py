"""Advanced syntax and facets through the engine: exact selections in every mode."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from indexer.errors import InvalidParameter
from indexer.filters import Filters
from indexer.lexical.syntax import QuerySyntaxError
from indexer.text import words


def _pmids(rows: list[dict], pred) -> set[int]:
    return {r["pmid"] for r in rows if pred(r)}


def _asthma_2000s(r: dict) -> bool:
    return "asthma" in words(r["title"]) and 2000 <= r["year"] <= 2010


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_an_expression_selects_exactly_in_every_mode(web_engine, tiny_corpus, mode: str):
    _, rows = tiny_corpus
    want = _pmids(rows, _asthma_2000s)
    assert 0 < len(want) < len(rows)
    r = web_engine.search("asthma[ti] AND 2000:2010[dp]", k=100, mode=mode, syntax="pubmed")
    assert r.syntax == "pubmed"
    assert {h.pmid for h in r.hits} == want  # every selected article, and nothing else
    assert r.total == len(want)


def test_dense_ranking_within_the_selection_follows_meaning(web_engine):
    r = web_engine.search("asthma[ti] AND 2000:2010[dp]", k=3, mode="dense", syntax="pubmed")
    full = web_engine.search("asthma[ti] AND 2000:2010[dp]", k=100, mode="dense", syntax="pubmed")
    assert [h.pmid for h in r.hits] == [h.pmid for h in full.hits[:3]]
    scores = [h.score for h in full.hits]
    assert scores == sorted(scores, reverse=True)


def test_an_expression_combines_with_filters(web_engine, tiny_corpus):
    _, rows = tiny_corpus
    r = web_engine.search("asthma[ti] OR diabetes[ti]", k=100, mode="lexical", syntax="pubmed",
                          filters=Filters(journal="BMJ"))  # fmt: skip
    want = _pmids(rows, lambda x: bool({"asthma", "diabetes"} & set(words(x["title"])))
                  and x["journal"] == "BMJ")  # fmt: skip
    assert {h.pmid for h in r.hits} == want and r.total == len(want)


def test_plain_syntax_never_reads_operators(web_engine, tiny_corpus):
    _, rows = tiny_corpus
    r = web_engine.search("asthma[ti] AND 2000:2010[dp]", k=100, mode="lexical")
    assert r.syntax == "plain"
    # the words are searched as words: any asthma article matches, whatever its year
    assert {h.pmid for h in r.hits} >= _pmids(rows, lambda x: "asthma" in words(x["title"]))
    assert any(not 2000 <= h.year <= 2010 for h in r.hits)


@pytest.mark.parametrize(
    ("expr", "position"),
    [("asthma[xx]", 6), ("(asthma OR", 10), ("asthma AND", 7), ('"open phrase', 0)],
)
def test_a_malformed_expression_is_an_invalid_parameter_with_its_position(
    web_engine, expr: str, position: int
):
    with pytest.raises(QuerySyntaxError) as e:
        web_engine.search(expr, mode="hybrid", syntax="pubmed")
    assert isinstance(e.value, InvalidParameter) and e.value.status == 400
    assert f"position {e.value.position}" in str(e.value)
    assert abs(e.value.position - position) <= 4


def test_unknown_syntax_is_refused(web_engine):
    with pytest.raises(InvalidParameter, match="syntax: must be one of plain, pubmed"):
        web_engine.search("asthma", syntax="lucene")


@pytest.mark.parametrize("syntax", ["plain", "pubmed"])
def test_facets_count_the_whole_match_set(web_engine, tiny_corpus, syntax: str):
    _, rows = tiny_corpus
    query = "asthma" if syntax == "plain" else "asthma[tiab]"
    f = Filters(year_from=1995)
    r = web_engine.search(query, k=5, mode="hybrid", filters=f, facets=True, syntax=syntax)

    def hit(x: dict) -> bool:
        text = words(x["title"] + " " + " ".join(s["text"] for s in x["sections"]))
        return "asthma" in text and x["year"] >= 1995

    matched = [x for x in rows if hit(x)]
    assert len(r.hits) == 5 < len(matched) == r.total
    facets = r.facets
    assert facets is not None
    assert dict(facets.years) == dict(Counter(x["year"] for x in matched))
    assert dict(facets.journal) == dict(Counter(x["journal"] for x in matched))
    assert dict(facets.pubtype) == dict(Counter(p for x in matched for p in x["publication_types"]))
    mesh = Counter(m["name"] for x in matched for m in x["mesh"])
    assert dict(facets.mesh) == dict(mesh)
    assert [n for _, n in facets.journal] == sorted((n for _, n in facets.journal), reverse=True)
    assert web_engine.search(query, k=5, syntax=syntax).facets is None  # only when asked


@pytest.mark.parametrize("syntax", ["plain", "pubmed"])
def test_both_ways_of_checking_candidates_agree(web_engine, monkeypatch, syntax: str):
    from search import state

    query = "asthma inhaled" if syntax == "plain" else "asthma[tiab] OR stroke[ti]"
    f = Filters(journal="BMJ", year_from=1995)
    small = web_engine.search(query, k=20, mode="dense", filters=f, syntax=syntax)
    monkeypatch.setattr(state, "SUBSET_MATCH_MAX", 0)  # every check goes to Tantivy
    big = web_engine.search(query, k=20, mode="dense", filters=f, syntax=syntax)
    assert [(h.pmid, h.score) for h in big.hits] == [(h.pmid, h.score) for h in small.hits]
    assert big.total == small.total > 0
    ids = np.arange(0, 200)
    sel = state.Selection(f, query if syntax == "pubmed" else None)
    via_tantivy = web_engine.state.matching(sel, ids)
    monkeypatch.setattr(state, "SUBSET_MATCH_MAX", 10**9)
    assert via_tantivy.tolist() == web_engine.state.matching(sel, ids).tolist()
    assert len(via_tantivy) > 0
