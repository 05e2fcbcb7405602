"""SearchEngine over real indexes built by build(): modes, filters, paging, similar, versions."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.filters import Filters
from search import ModelMismatchError, NotFound, SearchEngine
from search.dense import selected_top
from search.pages import page_dict
from tests.fixtures.indexes import synthetic_articles, write_jsonl

MODES = ("hybrid", "dense", "lexical")
WORD = re.compile(r"\w+")


@pytest.fixture(scope="module")
def engine(tiny_index: Path):
    eng = SearchEngine.open(tiny_index)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def rows(tiny_corpus) -> dict[int, dict]:
    return {r["pmid"]: r for r in tiny_corpus[1]}


def abstract(row: dict) -> str:
    return " ".join(s["text"] for s in row["sections"])


def words(row: dict) -> set[str]:
    return set(WORD.findall(f"{row['title']} {abstract(row)}".lower()))


def matches(row: dict, f: Filters) -> bool:
    """Independent re-implementation of the Filters semantics over the JSONL rows."""
    if f.year_from is not None and (row["year"] is None or row["year"] < f.year_from):
        return False
    if f.year_to is not None and (row["year"] is None or row["year"] > f.year_to):
        return False
    if f.journal and f.journal.lower() not in (row["journal"].lower(), row["journal_iso"].lower()):
        return False
    if f.mesh and not any(
        f.mesh.lower() in (m["name"].lower(), m["ui"].lower()) for m in row["mesh"]
    ):
        return False
    if f.pubtype and f.pubtype.lower() not in [p.lower() for p in row["publication_types"]]:
        return False
    return f.has_abstract is None or f.has_abstract == bool(row["sections"])


def brute_force(engine: SearchEngine, q: np.ndarray, pmids: list[int]) -> dict[int, float]:
    """Exact inner products of ``q`` with the stored vectors of ``pmids``."""
    state = engine.state
    docs = {p: state.store.doc_for_pmid(p, state.version) for p in pmids}
    ids = np.array([docs[p].doc_id for p in pmids], dtype=np.int64)
    return dict(zip(pmids, (state.vectors.read(ids) @ q).tolist(), strict=True))


def assert_exact_top(hits, exact: dict[int, float], k: int, tol: float = 2e-3) -> None:
    """``hits`` are the k best of ``exact`` (up to fp16 rounding of near ties), best first."""
    assert len(hits) == min(k, len(exact))
    ranked = sorted(exact.values(), reverse=True)
    kth = ranked[len(hits) - 1]
    for h in hits:
        assert h.pmid in exact
        assert exact[h.pmid] >= kth - tol, (h.pmid, exact[h.pmid], kth)
        assert h.score == pytest.approx(exact[h.pmid], abs=tol)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


FILTER_CASES = [
    Filters(year_from=2010),
    Filters(year_to=1999),
    Filters(year_from=2000, year_to=2009),
    Filters(journal="bmj"),
    Filters(journal="J Test"),
    Filters(mesh="Asthma"),
    Filters(mesh="D003920"),
    Filters(pubtype="review"),
    Filters(has_abstract=False),
    Filters(has_abstract=True),
    Filters(year_from=2000, journal="The Lancet", pubtype="Journal Article"),
    Filters(mesh="stroke", has_abstract=True, year_to=2015),
]


# --- modes ------------------------------------------------------------------------------------


def test_lexical_total_and_ranking(engine, rows) -> None:
    r = engine.search("budesonide formoterol", k=10, mode="lexical")
    expected = {p for p, row in rows.items() if words(row) & {"budesonide", "formoterol"}}
    assert r.total == len(expected)
    assert {h.pmid for h in r.hits} <= expected
    assert len(r.hits) == min(10, len(expected))
    assert all(rows[h.pmid]["topic"] == "asthma" for h in r.hits)
    assert [h.score for h in r.hits] == sorted((h.score for h in r.hits), reverse=True)
    assert r.model == "bm25" and r.mode == "lexical" and r.version == 1


def test_dense_is_exact_top_k(engine, rows) -> None:
    r = engine.search("insulin glucose metformin", k=10, mode="dense")
    q = engine.embed_query("insulin glucose metformin")
    assert_exact_top(r.hits, brute_force(engine, q, list(rows)), 10)
    assert r.total == len(rows)  # every synthetic article has a title: all are embedded
    assert r.model == engine.state.manifest.encoder.model


def test_hybrid_is_the_recorded_fusion_of_both_sides(engine) -> None:
    query, k = "cisplatin chemotherapy metastasis", 10
    r = engine.search(query, k=k, mode="hybrid")
    state = engine.state
    fusion = state.manifest.hybrid_fusion
    assert fusion.chosen_by == "calibration"  # the build measured it
    dense, _ = selected_top(state, engine.embed_query(query), fusion.depth, None)
    lexical, lex_total = state.lexical.search(query, limit=fusion.depth)
    assert fusion.min_words == 4  # a 3-word query: RRF, dense share at most 1/2
    short = fusion.for_query(query)
    assert short.method == "rrf" and short.dense_weight <= short.lexical_weight
    fused = fusion.for_query(query).fuse(dense, lexical)[:k]
    assert [h.doc_id for h in r.hits] == [d for d, _ in fused]
    assert [h.score for h in r.hits] == pytest.approx([s for _, s in fused])
    assert r.total == lex_total
    # Weights move the ranking towards one side.
    lex_heavy = engine.search(query, k=k, mode="hybrid", weights={"dense": 0.0, "lexical": 1.0})
    assert [h.doc_id for h in lex_heavy.hits] == [d for d, _ in lexical[:k]]
    # Request weights override the recorded ones, with the recorded method.
    even = engine.search(query, k=k, mode="hybrid", weights=[1.0, 1.0])
    expect = fusion.with_weights(1.0, 1.0).fuse(dense, lexical)[:k]
    assert [h.doc_id for h in even.hits] == [d for d, _ in expect]
    # A query of 4+ words gets the calibrated method and weights.
    long_query = "cisplatin chemotherapy metastasis carcinoma biopsy"
    r = engine.search(long_query, k=k, mode="hybrid")
    dense, _ = selected_top(state, engine.embed_query(long_query), fusion.depth, None)
    lexical, _ = state.lexical.search(long_query, limit=fusion.depth)
    assert fusion.for_query(long_query) is fusion
    assert [h.doc_id for h in r.hits] == [d for d, _ in fusion.fuse(dense, lexical)[:k]]


def test_hits_carry_metadata_and_snippets(engine, rows) -> None:
    r = engine.search("vancomycin sepsis", k=5, mode="lexical")
    assert r.hits
    for h in r.hits:
        row = rows[h.pmid]
        assert (h.title, h.journal, h.year, h.doi) == (
            row["title"],
            row["journal"],
            row["year"],
            row["doi"],
        )
        assert h.authors == row["authors"]
        assert h.mesh == [m["name"] for m in row["mesh"]]
        assert h.snippet.text.replace("…", "") in abstract(row)
        found = {h.snippet.text[a:b].lower() for a, b in h.snippet.highlights}
        assert found <= {"vancomycin", "sepsis"}
        if words(row) & {"vancomycin", "sepsis"} and abstract(row):
            assert found or len(abstract(row)) > 300
    d = page_dict(r)
    json.dumps(d)
    assert d["results"][0]["highlights"] == [list(x) for x in r.hits[0].snippet.highlights]


# --- filters ----------------------------------------------------------------------------------


@pytest.fixture(params=["post-filter", "subset-exact", "subset-selector"])
def dense_path(request, monkeypatch) -> str:
    """Force one of the filtered dense strategies (see search.dense)."""
    import indexer.vectors.index
    import search.dense

    if request.param != "post-filter":
        monkeypatch.setattr(search.dense, "POSTFILTER_MAX_FETCH", 0)
    if request.param == "subset-selector":
        monkeypatch.setattr(search.dense, "EXACT_SUBSET_MAX", 0)
        monkeypatch.setattr(indexer.vectors.index, "EXACT_SUBSET_MAX", 0)
    return request.param


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("f", FILTER_CASES, ids=lambda f: json.dumps(f.as_dict()))
def test_filters_hold_in_every_mode(engine, rows, mode, f, dense_path) -> None:
    query = "patients study asthma insulin stroke"
    matching = [p for p, row in rows.items() if matches(row, f)]
    assert matching, "each case must select something"
    r = engine.search(query, k=20, mode=mode, filters=f)
    assert all(matches(rows[h.pmid], f) for h in r.hits)
    terms = {"patients", "study", "asthma", "insulin", "stroke"}
    lexical = [p for p in matching if words(rows[p]) & terms]
    if mode == "lexical":
        assert r.total == len(lexical)
        assert len(r.hits) == min(20, len(lexical))
    else:  # dense sees the whole filtered set: never fewer than k when k match
        assert len(r.hits) == min(20, len(matching))
        assert r.total == (len(matching) if mode == "dense" else len(lexical))
    assert r.filters == f.as_dict()


@pytest.mark.parametrize("f", FILTER_CASES, ids=lambda f: json.dumps(f.as_dict()))
def test_filtered_dense_is_exact_top_k_of_filtered_set(engine, rows, f, dense_path) -> None:
    query = "airway wheeze exacerbation"
    matching = [p for p, row in rows.items() if matches(row, f)]
    r = engine.search(query, k=7, mode="dense", filters=f)
    assert_exact_top(r.hits, brute_force(engine, engine.embed_query(query), matching), 7)


def test_empty_filter_result(engine) -> None:
    f = Filters(year_from=2500)
    for mode in MODES:
        r = engine.search("asthma", mode=mode, filters=f)
        assert r.hits == [] and r.total == 0


# --- paging -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_pages_continue_without_overlap(engine, mode) -> None:
    query = "patients study results"
    whole = engine.search(query, k=15, mode=mode)
    pages = [engine.search(query, k=5, mode=mode, page=p) for p in (1, 2, 3)]
    got = [h.doc_id for p in pages for h in p.hits]
    assert len(got) == len(set(got)) == 15
    assert got == [h.doc_id for h in whole.hits]
    assert [h.rank for p in pages for h in p.hits] == list(range(1, 16))
    assert {p.total for p in pages} == {whole.total}
    far = engine.search(query, k=100, mode=mode, page=50)
    assert far.hits == [] and far.page == 50


# --- similar / article ------------------------------------------------------------------------


def test_similar_excludes_itself_and_is_exact(engine, rows) -> None:
    pmid = 1003
    r = engine.similar(pmid, k=10)
    assert pmid not in [h.pmid for h in r.hits]
    state = engine.state
    me = state.store.doc_for_pmid(pmid, state.version)
    q = state.vectors.read(np.array([me.doc_id]))[0]
    others = [p for p in rows if p != pmid]
    assert_exact_top(r.hits, brute_force(engine, q, others), 10)
    assert r.total == len(rows) - 1 and r.mode == "similar"


def test_similar_respects_filters_and_pages(engine, rows, dense_path) -> None:
    f = Filters(mesh="Neoplasms")
    pmid = next(p for p, row in rows.items() if matches(row, f))
    matching = [p for p, row in rows.items() if matches(row, f) and p != pmid]
    r = engine.similar(pmid, k=50, filters=f)
    assert {h.pmid for h in r.hits} == set(matching)  # all of them: k exceeds the set
    assert r.total == len(matching)
    p1 = engine.similar(pmid, k=4, filters=f)
    p2 = engine.similar(pmid, k=4, filters=f, page=2)
    assert [h.pmid for h in p1.hits + p2.hits] == [h.pmid for h in r.hits[:8]]
    other = next(p for p, row in rows.items() if not matches(row, f))
    assert engine.similar(other, k=5, filters=f).total == len(matching) + 1


def test_similar_unknown_pmid(engine) -> None:
    with pytest.raises(NotFound, match="999999"):
        engine.similar(999999)
    with pytest.raises(KeyError):
        engine.similar(999999)


def test_article(engine, rows) -> None:
    doc = engine.article(1007)
    assert doc is not None and doc.article.title == rows[1007]["title"]
    assert doc.article.abstract == abstract(rows[1007])
    assert engine.article(424242) is None


# --- arguments and hostile input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": "   \n\t"}, "query"),
        ({"query": "x" * 1001}, "query"),
        ({"query": None}, "query"),
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "10"}, "k"),
        ({"page": 0}, "page"),
        ({"page": -3}, "page"),
        ({"mode": "semantic"}, "mode"),
        ({"weights": [1.0]}, "weights"),
        ({"weights": {"bm25": 1}}, "weights"),
        ({"weights": [-1, 1]}, "weights"),
        ({"filters": {"year_from": 2000}}, "filters"),
    ],
)
def test_bad_arguments_name_the_parameter(engine, kwargs, param) -> None:
    args = {"query": "asthma", **kwargs}
    with pytest.raises(ValueError, match=rf"^{param}:"):
        engine.search(**args)


def test_query_at_the_length_limit_is_fine(engine) -> None:
    assert engine.search("asthma " * 142 + "x", k=3).query  # 1,000 characters


HOSTILE = [
    '"',
    "'",
    'asthma"',
    "NEAR(asthma insulin, 2)",
    "asthma OR insulin AND NOT stroke",
    "title:asthma",
    "asth*",
    "^asthma",
    "(((",
    "'; DROP TABLE articles; --",
    "1' OR '1'='1",
    "\x00\x01 asthma",
    "{insulin} [glucose] <b>",
    "αβγ δ 糖尿病 🙂",
    "-",
    "AND",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_lexical_input_is_plain_text(engine, query) -> None:
    for mode in ("lexical", "hybrid"):
        r = engine.search(query, k=5, mode=mode)
        assert r.total is not None and r.total >= 0
    # The store is intact and still answers.
    assert engine.search("asthma", k=3, mode="lexical").total > 0


def test_hostile_query_still_matches_its_words(engine) -> None:
    r = engine.search('asthma" OR "insulin', k=50, mode="lexical")
    assert r.total == engine.search("asthma insulin", k=50, mode="lexical").total > 0


# --- models -----------------------------------------------------------------------------------


def test_other_model_is_refused(tiny_index, tiny_model_dir_b) -> None:
    with pytest.raises(ModelMismatchError) as err:
        SearchEngine.open(tiny_index, model=str(tiny_model_dir_b))
    msg = str(err.value)
    manifest_fp = json.loads(next((tiny_index / "versions").glob("*/manifest.json")).read_text())[
        "encoder"
    ]["fingerprint"]
    assert manifest_fp[:16] in msg
    assert str(tiny_model_dir_b) in msg
    assert isinstance(err.value, ValueError)


def test_manifest_fingerprint_mismatch_is_refused(tiny_index, tmp_path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(tiny_index, copy)
    path = next((copy / "versions").glob("*/manifest.json"))
    data = json.loads(path.read_text())
    data["encoder"]["fingerprint"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError, match="0000000000000000"):
        SearchEngine.open(copy)


def test_same_model_from_another_path_is_accepted(tiny_index, tiny_model_dir, tmp_path) -> None:
    other = tmp_path / "copy-of-model"
    shutil.copytree(tiny_model_dir, other)
    with SearchEngine.open(tiny_index, model=str(other)) as eng:
        assert eng.search("asthma", k=3).hits


# --- concurrency, cache, versions -------------------------------------------------------------


def _comparable(r) -> dict:
    d = page_dict(r)
    d.pop("took_ms")
    return d


def test_concurrent_requests_equal_serial(tiny_index) -> None:
    queries = [
        (q, mode, f)
        for q in ("asthma budesonide", "insulin glucose", "tumour biopsy", "stroke", "sepsis")
        for mode in MODES
        for f in (None, Filters(year_from=2000), Filters(mesh="Humans", pubtype="Review"))
    ]
    with SearchEngine.open(tiny_index) as eng:
        serial = [_comparable(eng.search(q, k=7, mode=m, filters=f)) for q, m, f in queries]
    with SearchEngine.open(tiny_index) as eng:  # a cold cache: threads race on encoding too
        results: dict[tuple[int, int], dict] = {}
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def worker(t: int) -> None:
            try:
                barrier.wait()
                order = list(range(len(queries)))[t:] + list(range(len(queries)))[:t]
                for _ in range(2):
                    for i in order:
                        q, m, f = queries[i]
                        results[(t, i)] = _comparable(eng.search(q, k=7, mode=m, filters=f))
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not errors, errors
    for (_, i), got in results.items():
        assert got == serial[i]


def test_repeated_query_hits_the_cache(tiny_index) -> None:
    with SearchEngine.open(tiny_index) as eng:
        embedder = eng.state.embedder
        real = embedder.encoder
        calls: list[list[str]] = []

        class Counting:
            def encode(self, texts, **kw):
                calls.append(list(texts))
                return real.encode(texts, **kw)

        embedder.encoder = Counting()
        first = eng.search("insulin resistance", k=5, mode="dense")
        assert len(calls) == 1
        for mode in ("dense", "hybrid", "dense"):
            eng.search("insulin resistance", k=5, mode=mode)
        eng.search("insulin resistance", k=5, mode="dense", page=2)
        assert len(calls) == 1
        eng.search("insulin  resistance", k=5, mode="dense")  # other text, another entry
        assert len(calls) == 2
        eng.search("insulin resistance", k=5, mode="lexical")  # lexical needs no embedding
        assert len(calls) == 2
        assert [h.pmid for h in eng.search("insulin resistance", k=5, mode="dense").hits] == [
            h.pmid for h in first.hits
        ]
        assert eng.query_cache.hits >= 5


def test_cache_is_bounded(tiny_index) -> None:
    with SearchEngine.open(tiny_index, cache_size=3) as eng:
        for q in ("a1", "b2", "c3", "d4", "e5"):
            eng.embed_query(q)
        assert len(eng.query_cache) == 3


def test_reload_picks_up_a_new_version(tiny_index, tiny_model_dir, tmp_path) -> None:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    copy = tmp_path / "index"
    shutil.copytree(tiny_index, copy)
    eng = SearchEngine.open(copy)
    assert eng.reload_if_changed() is False
    old_state = eng.state
    before = eng.search("zyxomycin", k=5, mode="lexical")
    assert before.total == 0 and before.version == 1

    new = synthetic_articles(3, seed=99, first_pmid=900_000)
    for a in new:
        a["title"] = "Zyxomycin trial: " + a["title"]
    settings = BuildSettings(model=str(tiny_model_dir), max_length=128, show_progress=False)
    build(copy, [write_jsonl(tmp_path / "new.jsonl", new)], settings)

    assert eng.search("zyxomycin", k=5, mode="lexical").total == 0  # not yet swapped
    assert eng.reload_if_changed() is True
    after = eng.search("zyxomycin", k=5, mode="lexical")
    assert after.version == 2 and {h.pmid for h in after.hits} == {a["pmid"] for a in new}
    assert eng.search("asthma", k=5, mode="dense").total == 123
    # A request that started on the old state finishes on version 1, whole.
    assert old_state.lexical.search("zyxomycin", 5) == ([], 0)
    assert old_state.index.ntotal == 120
    assert eng.reload_if_changed() is False
    assert eng.state.embedder is old_state.embedder  # same model: encoder reused
    eng.close()


def test_state_is_immutable(engine) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.state.version = 7  # type: ignore[misc]


# --- CLI --------------------------------------------------------------------------------------


def _run(*args: str):
    from click.testing import CliRunner

    from pubmed_search.cli import cli

    return CliRunner().invoke(cli, ["query", *args], catch_exceptions=False)


def test_cli_query_text(tiny_index, rows) -> None:
    res = _run("--index", str(tiny_index), "--mode", "lexical", "-k", "3", "budesonide")
    assert res.exit_code == 0, res.output
    pmids = [int(m) for m in re.findall(r"PMID (\d+)", res.output)]
    assert len(pmids) == 3 and all(rows[p]["topic"] == "asthma" for p in pmids)
    assert re.search(r"^\s+1\. \d+\.\d{4}  PMID \d+  \d{4}  ", res.output, re.M)
    assert rows[pmids[0]]["title"][:40] in res.output.replace("\n     ", " ")
    assert "budesonide" in res.output.lower()


def test_cli_query_json_with_filters(tiny_index, rows) -> None:
    res = _run(
        "--index", str(tiny_index), "--json", "-k", "4", "--page", "2",
        "--year-from", "2000", "--year-to", "2020", "--mesh", "Asthma", "inhaled airway",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"query", "mode", "k", "page", "total", "took_ms", "model", "results"} <= set(data)
    assert (data["mode"], data["k"], data["page"]) == ("hybrid", 4, 2)
    assert [h["rank"] for h in data["results"]] == [5, 6, 7, 8]
    f = Filters(year_from=2000, year_to=2020, mesh="Asthma")
    for h in data["results"]:
        assert matches(rows[h["pmid"]], f)
        assert set(h) >= {"pmid", "score", "title", "journal", "year", "authors", "doi", "mesh"}
        assert isinstance(h["snippet"], str) and isinstance(h["highlights"], list)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-k", "0", "asthma"], "-k"),
        (["-k", "101", "asthma"], "-k"),
        (["--page", "0", "asthma"], "--page"),
        (["--mode", "semantic", "asthma"], "--mode"),
        (["   "], "empty"),
        (["x" * 1001], "1000"),
        (["--year-from", "2020", "--year-to", "2010", "asthma"], "--year-from"),
        (["--year-from", "soon", "asthma"], "--year-from"),
        ([], "TEXT"),
    ],
)
def test_cli_bad_arguments_exit_2(tiny_index, args, needle) -> None:
    res = _run("--index", str(tiny_index), *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output


def test_cli_missing_index_and_wrong_model(tmp_path, tiny_index, tiny_model_dir_b) -> None:
    res = _run("--index", str(tmp_path / "nowhere"), "asthma")
    assert res.exit_code == 2 and "nowhere" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run("--index", str(empty), "asthma")
    assert res.exit_code == 1 and "no published index" in res.output
    res = _run("--index", str(tiny_index), "--model", str(tiny_model_dir_b), "asthma")
    assert res.exit_code == 2 and "fingerprint" in res.output


# --- an index with specific data --------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_index(tmp_path_factory, tiny_model_dir) -> tuple[Path, list[dict]]:
    """Articles without text, without abstract, and one whose only word is rare."""
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    rows = synthetic_articles(30, seed=3, first_pmid=5000)
    rows[0].update(title="", sections=[])  # stored, not embeddable: no vector
    rows[1].update(title="Quokka physiology", sections=[])  # title only
    rows[2]["sections"] = [{"label": None, "text": "A quokka in the abstract. " * 30}]
    root = tmp_path_factory.mktemp("odd") / "index"
    settings = BuildSettings(model=str(tiny_model_dir), max_length=64, show_progress=False)
    build(root, [write_jsonl(root.parent / "odd.jsonl", rows)], settings)
    return root, rows


def test_article_without_vector(odd_index) -> None:
    root, rows = odd_index
    with SearchEngine.open(root) as eng:
        assert eng.article(rows[0]["pmid"]) is not None  # stored and retrievable...
        with pytest.raises(NotFound, match="no vector"):
            eng.similar(rows[0]["pmid"])  # ...but has no vector
        r = eng.search("patients", k=100, mode="dense")
        assert r.total == 29 and rows[0]["pmid"] not in {h.pmid for h in r.hits}
        assert len(r.hits) == 29


def test_hybrid_total_is_the_lexical_total(odd_index) -> None:
    root, rows = odd_index
    with SearchEngine.open(root) as eng:
        r = eng.search("quokka", k=10, mode="hybrid")
        assert r.total == 2  # full-text matches; the dense side ranks every article
        assert len(r.hits) == 10
        assert {h.pmid for h in r.hits[:2]} == {rows[1]["pmid"], rows[2]["pmid"]}
        title_only = next(h for h in r.hits if h.pmid == rows[1]["pmid"])
        assert title_only.snippet.text == "" and title_only.snippet.highlights == []
        long = next(h for h in r.hits if h.pmid == rows[2]["pmid"])
        assert 250 <= len(long.snippet.text) <= 340 and long.snippet.text.endswith("…")
        assert len(long.snippet.highlights) >= 5


def test_reload_to_another_model_fails_and_keeps_serving(
    odd_index, tiny_model_dir_b, tmp_path
) -> None:
    """A new version whose recorded model no longer matches its weights is refused."""
    from indexer.manifest import IndexDir

    root, _ = odd_index
    copy = tmp_path / "index"
    shutil.copytree(root, copy)
    eng = SearchEngine.open(copy)
    idx = IndexDir(copy)
    manifest = idx.read_manifest()
    shutil.copytree(idx.version_dir(1), idx.version_dir(2))
    manifest.version = 2
    manifest.encoder.model = str(tiny_model_dir_b)  # weights on disk: fingerprint of B...
    manifest.encoder.fingerprint = "ab" * 32  # ...but the manifest records another one
    idx.write_manifest(manifest)
    idx.publish(2)
    with pytest.raises(ModelMismatchError, match="abababab"):
        eng.reload_if_changed()
    assert eng.version == 1 and eng.search("quokka", k=3).hits
    eng.close()


@pytest.mark.postgres
def test_engine_on_postgresql(pg_url, tiny_corpus, tiny_model_dir, tmp_path) -> None:
    """The same engine over a PostgreSQL store: modes, filters, paging, similar."""
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    path, corpus = tiny_corpus
    rows = {r["pmid"]: r for r in corpus}
    settings = BuildSettings(
        model=str(tiny_model_dir), max_length=128, db_url=pg_url, show_progress=False
    )
    build(tmp_path / "index", [path], settings)
    with SearchEngine.open(tmp_path / "index") as eng:
        assert eng.state.manifest.store_url == pg_url
        for f in FILTER_CASES[:8]:
            matching = [p for p, row in rows.items() if matches(row, f)]
            r = eng.search("wheeze airway", k=7, mode="dense", filters=f)
            assert r.total == len(matching)
            assert_exact_top(
                r.hits, brute_force(eng, eng.embed_query("wheeze airway"), matching), 7
            )
            lex = eng.search("budesonide", k=50, mode="lexical", filters=f)
            expected = {p for p in matching if "budesonide" in words(rows[p])}
            assert {h.pmid for h in lex.hits} == expected and lex.total == len(expected)
        pages = [eng.search("patients", k=5, mode="hybrid", page=p) for p in (1, 2)]
        whole = eng.search("patients", k=10, mode="hybrid")
        assert [h.pmid for p in pages for h in p.hits] == [h.pmid for h in whole.hits]
        sim = eng.similar(1001, k=5, filters=Filters(mesh="Asthma"))
        assert 1001 not in {h.pmid for h in sim.hits}
        assert all(matches(rows[h.pmid], Filters(mesh="Asthma")) for h in sim.hits)
        assert eng.search("'; DROP TABLE articles; --", k=3, mode="lexical").total >= 0


@pytest.fixture(scope="module", params=["hnsw", "ivf", "ivfpq"])
def typed_index(request, tmp_path_factory, tiny_model_dir, tiny_corpus) -> Path:
    """The tiny corpus under each approximate FAISS index type."""
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    path, _ = tiny_corpus
    root = tmp_path_factory.mktemp(f"typed-{request.param}") / "index"
    settings = BuildSettings(
        model=str(tiny_model_dir), max_length=128, index_type=request.param, show_progress=False
    )
    build(root, [path], settings)
    return root


def test_every_index_type_filters_and_fills_pages(typed_index, rows, dense_path) -> None:
    with SearchEngine.open(typed_index) as eng:
        factory = eng.state.manifest.faiss_factory
        assert eng.state.rescore == ("PQ" in factory)  # lossy codes are re-scored exactly
        q = eng.embed_query("carcinoma biopsy")
        for f in (None, *FILTER_CASES[:8]):
            matching = [p for p, row in rows.items() if f is None or matches(row, f)]
            r = eng.search("carcinoma biopsy", k=12, mode="dense", filters=f)
            assert len(r.hits) == min(12, len(matching)), (factory, f)
            assert all(h.pmid in set(matching) for h in r.hits)
            exact = brute_force(eng, q, matching)
            best = sorted(exact, key=exact.get, reverse=True)[: len(r.hits)]
            recall = len(set(best) & {h.pmid for h in r.hits}) / max(1, len(best))
            assert recall >= 0.75, (factory, f, recall)
            h = eng.search("carcinoma biopsy", k=12, mode="hybrid", filters=f)
            assert len(h.hits) == min(12, len(matching))
        a = [x.pmid for x in eng.search("stroke", k=6, mode="dense").hits]
        b = [x.pmid for x in eng.search("stroke", k=6, mode="dense", page=2).hits]
        assert len(a) == len(b) == 6 and not set(a) & set(b)


def test_asymmetric_pair_embeds_queries_with_the_query_model(
    tiny_corpus, tiny_model_dir, tiny_model_dir_b, tmp_path, rows
) -> None:
    from indexer.build import build
    from indexer.build.settings import BuildSettings
    from indexer.models.encoder import Encoder, EncoderConfig

    path, _ = tiny_corpus
    settings = BuildSettings(
        model=str(tiny_model_dir),
        query_model=str(tiny_model_dir_b),
        query_max_length=32,
        max_length=128,
        show_progress=False,
    )
    build(tmp_path / "index", [path], settings)
    with SearchEngine.open(tmp_path / "index") as eng:
        info = eng.state.manifest.encoder
        assert eng.state.embedder.encoder.fingerprint == info.query_fingerprint
        assert eng.state.model == str(tiny_model_dir_b)
        b = Encoder.load(EncoderConfig(model=str(tiny_model_dir_b), max_length=32))
        q = b.encode(["troponin stent"])[0]
        assert np.allclose(eng.embed_query("troponin stent"), q, atol=1e-5)
        r = eng.search("troponin stent", k=8, mode="dense")
        assert_exact_top(r.hits, brute_force(eng, q, list(rows)), 8)
    with pytest.raises(ModelMismatchError, match="query model"):
        SearchEngine.open(tmp_path / "index", query_model=str(tiny_model_dir))


def test_dense_paths_rescore_the_depth_the_index_records(tiny_index, tmp_path) -> None:
    """Both dense paths re-score as many candidates as the manifest records (spy on the
    vector file); a manifest from before ``rescore_depth`` reads as the floor."""
    from indexer.manifest import IndexDir
    from indexer.vectors.types import RESCORE_DEPTH, rescore_depth

    root = tmp_path / "index"
    shutil.copytree(tiny_index, root)
    index_dir = IndexDir(root)
    manifest = index_dir.read_manifest()
    base = {k: v for k, v in manifest.faiss_params.items() if k not in ("rescore", "rescore_depth")}
    everything = Filters(year_from=1000)  # post-filtered: matches all, selectivity 1

    def reads(params: dict, filters: Filters | None) -> tuple[int, list[int]]:
        index_dir.write_manifest(dataclasses.replace(manifest, faiss_params={**base, **params}))
        with SearchEngine.open(root, rescore=True) as eng:
            seen: list[int] = []
            vectors = eng.state.vectors
            read = vectors.read
            vectors.read = lambda ids: (seen.append(len(ids)), read(ids))[1]
            hits = eng.search("carcinoma biopsy", k=3, mode="dense", filters=filters).hits
            assert len(hits) == 3
            return eng.state.rescore_depth, seen

    n_docs = 120
    for depth in (30, 50):
        for filters in (None, everything):
            assert reads({"rescore_depth": depth}, filters) == (depth, [depth]), filters
    assert reads({"rescore_depth": 5}, None) == (5, [12])  # at least 4 * k
    # Older indexes recorded "rescore": 200 but were searched with the floor, as now.
    assert reads({"rescore": 200}, None) == (RESCORE_DEPTH, [min(n_docs, RESCORE_DEPTH)])
    assert rescore_depth({"rescore": 200}) == RESCORE_DEPTH == rescore_depth({})
    assert rescore_depth({"rescore": 200, "rescore_depth": 250}) == 250
