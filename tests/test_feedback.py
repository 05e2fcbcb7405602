"""Pseudo-relevance feedback (``prf``): RM3 for lexical, Rocchio for dense, both in hybrid.

Each expansion is recomputed here from its definition (``search.feedback``'s docstring) and
compared with what the engine serves; a purpose-made collection shows feedback lifting the
articles of the query's own topic above those that share only its word.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tantivy

from indexer.filters import Filters
from search import SearchEngine
from search.dense import selected_top
from search.feedback import DEFAULT_FEEDBACK, Feedback, relevance_model
from search.params import PARAM
from tests.fixtures.indexes import write_jsonl

QUERIES = ("asthma budesonide", "insulin glucose patients", "stent troponin", "sepsis")


@pytest.fixture(scope="module")
def engine(tiny_index: Path):
    eng = SearchEngine.open(tiny_index)
    yield eng
    eng.close()


def term_scores(state, term: str, limit: int) -> dict[int, float]:
    """BM25 of one index term over title (boosted) and abstract, per doc id."""
    schema, boost = state.lexical.schema, state.lexical.analysis.title_boost
    title = tantivy.Query.boost_query(
        tantivy.Query.term_query(schema, "title", term, index_option="freq"), boost
    )
    abstract = tantivy.Query.term_query(schema, "abstract", term, index_option="freq")
    both = tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, title), (tantivy.Occur.Should, abstract)]
    )
    ranked, _ = state.lexical.run(both, limit)
    return dict(ranked)


def expected_model(state, top: list[tuple[int, float]], fb: Feedback) -> dict[str, float]:
    """RM3's P(w|R) from its definition: score-weighted term distributions, top terms."""
    docs = state.store.get_docs([d for d, _ in top[: fb.docs]])
    total = sum(s for d, s in top[: fb.docs])
    model: Counter[str] = Counter()
    for d, s in top[: fb.docs]:
        a = docs[d].article
        terms = state.lexical.terms_of(f"{a.title}\n{a.abstract}")
        for t, n in Counter(terms).items():
            model[t] += (s / total) * n / len(terms)
    kept = [(t, p) for t, p in model.most_common() if len(t) > 1 and not t.isdigit()][: fb.terms]
    mass = sum(p for _, p in kept)
    return {t: p / mass for t, p in kept}


RM3 = Feedback(docs=10, terms=10, query_weight=0.5)  # Anserini's RM3 settings


@pytest.mark.parametrize("fb", [RM3, DEFAULT_FEEDBACK], ids=["anserini", "default"])
@pytest.mark.parametrize("query", QUERIES)
def test_rm3_scores_are_the_query_plus_the_weighted_expansion(engine, query, fb):
    state = engine.state
    n = state.lexical.num_docs
    plain = engine.search(query, k=100, mode="lexical")
    first = [(h.doc_id, h.score) for h in plain.hits]
    model = relevance_model(state, first, fb)
    assert model == pytest.approx(expected_model(state, first, fb))
    assert 0 < len(model) <= fb.terms and sum(model.values()) == pytest.approx(1.0)
    fed = engine.search(query, k=100, mode="lexical", prf=fb)
    assert fed.prf and not plain.prf
    n_terms = len(state.lexical.query_terms(query))
    scale = (1 - fb.query_weight) / fb.query_weight * n_terms
    per_term = {t: term_scores(state, t, n) for t in model}
    original = dict(first)
    want = {
        d: s + sum(scale * p * per_term[t].get(d, 0.0) for t, p in model.items())
        for d, s in original.items()
    }
    got = {h.doc_id: h.score for h in fed.hits}
    assert set(got) == set(original)  # the expansion re-ranks the query's own matches
    for d, s in got.items():
        assert s == pytest.approx(want[d], rel=1e-4, abs=1e-4)
    scores = [h.score for h in fed.hits]
    assert scores == sorted(scores, reverse=True)


def test_prf_true_is_the_default_feedback(engine):
    for mode in ("lexical", "dense", "hybrid"):
        on = engine.search("asthma budesonide", k=20, mode=mode, prf=True)
        default = engine.search("asthma budesonide", k=20, mode=mode, prf=DEFAULT_FEEDBACK)
        assert [(h.doc_id, h.score) for h in on.hits] == [(h.doc_id, h.score) for h in default.hits]


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_totals_facets_and_filters_are_the_querys(engine, mode):
    f = Filters(year_from=2000, journal="BMJ")
    plain = engine.search("asthma inhaled", k=20, mode=mode, filters=f, facets=True)
    fed = engine.search("asthma inhaled", k=20, mode=mode, filters=f, facets=True, prf=True)
    assert fed.total == plain.total
    assert fed.facets == plain.facets
    docs = engine.state.store.get_docs([h.doc_id for h in fed.hits])
    for h in fed.hits:
        a = docs[h.doc_id].article
        assert a.year >= 2000 and "BMJ" in (a.journal, a.journal_iso)


def test_rocchio_moves_the_query_vector_to_the_first_passs_centroid(engine):
    state = engine.state
    query = "diabetes insulin"
    first = engine.search(query, k=DEFAULT_FEEDBACK.docs, mode="dense")
    q = engine.embed_query(query)
    top = np.array([h.doc_id for h in first.hits], dtype=np.int64)
    moved = q + DEFAULT_FEEDBACK.beta * state.vectors.read(top).mean(axis=0)
    moved *= np.linalg.norm(q) / np.linalg.norm(moved)
    ids = state.all_ids()
    scores = state.vectors.read(ids) @ moved
    fed = engine.search(query, k=10, mode="dense", prf=True)
    by_id = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    served = [h.doc_id for h in fed.hits]
    # FAISS scores its float32 copy, the test the stored fp16 vectors: equal within 5e-3.
    for h in fed.hits:
        assert h.score == pytest.approx(by_id[h.doc_id], abs=5e-3)
    rest = max(s for d, s in by_id.items() if d not in served)
    assert min(by_id[d] for d in served) >= rest - 5e-3  # the top 10 of the moved vector
    assert [h.doc_id for h in fed.hits] != [h.doc_id for h in first.hits] or not np.allclose(
        [h.score for h in fed.hits], [h.score for h in first.hits]
    )


def test_hybrid_feeds_both_sides_from_the_fused_top(engine):
    state = engine.state
    query = "cardiac stent angioplasty"
    fusion = state.manifest.hybrid_fusion.for_query(query)
    n = max(fusion.depth, 20)
    plain = engine.search(query, k=n, mode="hybrid")
    top = [(h.doc_id, h.score) for h in plain.hits][: DEFAULT_FEEDBACK.docs]
    q = engine.embed_query(query)
    from search import feedback

    q2 = feedback.rocchio(state, q, top)
    dense, _ = selected_top(state, q2, n, None)
    match = state.lexical.text_query(query)
    expanded = feedback.expand_lexical(state, match, query, top)
    lexical, _ = state.lexical.run(expanded, n)
    want = fusion.fuse(dense, lexical)[:10]
    fed = engine.search(query, k=10, mode="hybrid", prf=True)
    assert [h.doc_id for h in fed.hits] == [d for d, _ in want]


def topic_collection() -> list[dict]:
    """20 asthma articles (their own vocabulary, 'airway' once in a long abstract), 3 short
    ones that mention 'airway' beside words of their own (so BM25 of 'airway' ranks them
    first) and 20 renal articles without the word."""
    topics = [  # first PMID, title, vocabulary, end of the abstract
        (5000, "Inhaled budesonide and wheeze in asthma cohort",
         "asthma budesonide wheeze inhaler bronchial exacerbation", " with airway obstruction."),
        (7000, "Dialysis and creatinine in kidney cohort",
         "renal dialysis kidney nephropathy creatinine glomerular", "."),
    ]  # fmt: skip
    rows = []
    for first, title, words, end in topics:
        vocabulary = words.split()
        for i in range(20):
            text = [vocabulary[(i + j) % len(vocabulary)] for j in range(40)]
            rows.append(
                {"pmid": first + i, "title": f"{title} {i}", "abstract": " ".join(text) + end}
            )
    for i, (a, b, c) in enumerate([("stent", "troponin", "coronary"), ("cochlear", "implant",
                                   "hearing"), ("tracheal", "burn", "smoke")]):  # fmt: skip
        rows.append(
            {"pmid": 6000 + i, "title": f"{a} {b}", "abstract": f"Airway {c}.", "year": 2011}
        )
    return rows


def test_feedback_lifts_the_querys_topic_over_shared_words(tmp_path, tiny_model_dir):
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    path = write_jsonl(tmp_path / "topic.jsonl", topic_collection())
    build(tmp_path / "index", [path], BuildSettings(model=str(tiny_model_dir), show_progress=False))
    with SearchEngine.open(tmp_path / "index") as eng:
        plain = eng.search("airway", k=10, mode="lexical")
        fed = eng.search("airway", k=10, mode="lexical", prf=RM3)
    top = lambda response: [h.pmid >= 6000 for h in response.hits[:5]]  # noqa: E731
    assert top(plain)[:3] == [True] * 3  # the short articles win on the one word
    assert not any(top(fed))  # the vocabulary of most of the top 10 lifts their topic
    assert fed.total == plain.total == 23  # renal articles do not match


def test_feedback_settings_are_checked():
    with pytest.raises(ValueError):
        Feedback(docs=0)
    with pytest.raises(ValueError):
        Feedback(query_weight=0.0)
    assert PARAM["prf"].default is False and PARAM["prf"].cli == "--prf/--no-prf"


def test_a_bad_prf_value_is_a_400(engine):
    from indexer.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="prf"):
        engine.search("asthma", prf="yes")  # type: ignore[arg-type]


def test_api_and_cli_take_prf(client, tiny_index):
    body = client.get("/api/search", query_string={"q": "asthma budesonide", "prf": "1"}).get_json()
    assert body["prf"] is True and body["results"]
    plain = client.get("/api/search", query_string={"q": "asthma budesonide"}).get_json()
    assert plain["prf"] is False and plain["total"] == body["total"]
    bad = client.get("/api/search", query_string={"q": "asthma", "prf": "maybe"})
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("prf")
    page = client.get("/", query_string={"q": "asthma", "prf": "1"}).get_data(as_text=True)
    assert 'id="prf"' in page and "checked" in page.split('id="prf"')[1].split(">")[0]

    from click.testing import CliRunner

    from pubmed_search.commands.query import command

    result = CliRunner().invoke(
        command, ["--index", str(tiny_index), "--prf", "--json", "asthma budesonide"]
    )
    assert result.exit_code == 0, result.output
    assert '"prf": true' in result.output


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_an_expression_keeps_its_set_with_feedback(engine, mode):
    expr = "asthma[ti] AND budesonide"
    plain = engine.search(expr, k=50, mode=mode, syntax="pubmed")
    fed = engine.search(expr, k=50, mode=mode, syntax="pubmed", prf=True)
    assert 0 < plain.total <= 50 and fed.prf and fed.total == plain.total
    assert {h.doc_id for h in fed.hits} == {h.doc_id for h in plain.hits}  # k covers the set
