"""search.evaluate readers, paging and run files; `pubmed-search eval` end to end on tiny_index."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pubmed_search.cli import cli
from search.evaluate import (
    EvalInputError,
    EvalReport,
    ModeReport,
    PlotUnavailable,
    load_eval_set,
    plot_recall,
    ranked,
    read_qrels,
    read_queries,
    run_path,
    write_run,
)
from tests.fixtures.common import require


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- readers -------------------------------------------------------------------------------


def test_known_item_queries(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "q.jsonl",
        '{"query": "asthma inhaler", "pmid": "0123"}\n'
        "\n"
        '{"query": "insulin", "pmid": 77, "id": "q-ins"}\n'
        '{"query": "two targets", "pmids": [5, "6"]}\n',
    )
    queries, qrels, fmt = read_queries(p)
    assert fmt == "known-item"
    assert [(q.qid, q.text) for q in queries] == [
        ("1", "asthma inhaler"),
        ("q-ins", "insulin"),
        ("4", "two targets"),  # qid = physical line number
    ]
    assert qrels == {"1": {"123": 1}, "q-ins": {"77": 1}, "4": {"5": 1, "6": 1}}


def test_beir_queries_and_qrels(tmp_path: Path) -> None:
    q = _write(
        tmp_path / "queries.jsonl",
        '{"_id": "a", "text": "first"}\n{"_id": "b", "text": "second"}\n'
        '{"_id": "c", "text": "train split only"}\n',
    )
    r = _write(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\na\t10\t2\na\t11\t0\nb\t12\t1\n")
    with pytest.raises(EvalInputError, match="--qrels"):
        load_eval_set(q)
    es = load_eval_set(q, r)
    assert es.format == "beir"
    assert [x.qid for x in es.queries] == ["a", "b"]
    assert es.unjudged == 1
    assert es.qrels == {"a": {"10": 2, "11": 0}, "b": {"12": 1}}


def test_qrels_variants(tmp_path: Path) -> None:
    trec = _write(tmp_path / "qrels.txt", "1 0 100 1\n1 0 101 3\n2 0 100 0\n")
    assert read_qrels(trec) == {"1": {"100": 1, "101": 3}, "2": {"100": 0}}
    no_header = _write(tmp_path / "nh.tsv", "q1\t5\t1\nq1\t5\t2\n")
    assert read_qrels(no_header) == {"q1": {"5": 2}}  # repeated judgement: highest grade
    bad = _write(tmp_path / "bad.tsv", "q1\t5\t1\nq1\t6\tvery\n")
    with pytest.raises(EvalInputError, match=r"bad\.tsv:2"):
        read_qrels(bad)
    cols = _write(tmp_path / "cols.tsv", "q1 5\n")
    with pytest.raises(EvalInputError, match="columns"):
        read_qrels(cols)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"query": "x", "pmid": 1}\nnot json\n', r":2: not JSON"),
        ('{"query": "x", "pmid": 1}\n{"_id": "b", "text": "y"}\n', "mixes"),
        ('{"query": "x", "pmid": 1, "id": 1}\n{"query": "y", "pmid": 2, "id": 1}\n', "duplicate"),
        ('{"query": "x", "pmid": "PMC12"}\n', "not a PMID"),
        ('{"title": "x"}\n', "expected 'query'"),
        ("\n\n", "no queries"),
    ],
)
def test_bad_query_files(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(EvalInputError, match=match):
        read_queries(_write(tmp_path / "q.jsonl", text))


# --- paging, run files, plot -----------------------------------------------------------------


@dataclass
class _Hit:
    pmid: int
    score: float


@dataclass
class _Resp:
    hits: list[_Hit]


class _PagedEngine:
    """Serves one fixed ranking in pages, with the real engine's k <= 100 limit."""

    def __init__(self, n: int) -> None:
        self.ranking = [_Hit(1000 + i, 1.0 - i / 1000) for i in range(n)]
        self.calls: list[tuple[int, int]] = []

    def search(self, query: str, k: int = 10, mode: str = "hybrid", page: int = 1) -> _Resp:
        assert 1 <= k <= 100
        self.calls.append((k, page))
        return _Resp(self.ranking[(page - 1) * k : page * k])


def test_ranked_pages_beyond_100() -> None:
    engine = _PagedEngine(260)
    out = ranked(engine, "q", "dense", 250)
    assert [d for d, _ in out] == [str(1000 + i) for i in range(250)]
    assert engine.calls == [(100, 1), (100, 2), (100, 3)]
    short = _PagedEngine(130)
    assert len(ranked(short, "q", "dense", 400)) == 130
    assert short.calls == [(100, 1), (100, 2)]  # stops on a short page
    one = _PagedEngine(260)
    assert len(ranked(one, "q", "dense", 40)) == 40 and one.calls == [(40, 1)]


def test_run_file_and_paths(tmp_path: Path) -> None:
    close = math.nextafter(2.5, 0)  # distinct in float64, equal in float32
    run = {"q1": [("5", 0.9), ("7", 0.5)], "q2": [], "q3": [("9", 2.5), ("3", close), ("4", 2.5)]}
    path = write_run(tmp_path / "r.trec", run, "dense")
    lines = path.read_text().splitlines()
    assert lines[:2] == ["q1 Q0 5 1 0.9 dense", "q1 Q0 7 2 0.5 dense"]
    # tied scores are written strictly decreasing, even in single precision (trec_eval), so
    # tools that re-sort by score keep the engine's order
    tied = [line.split() for line in lines[2:]]
    assert [t[2] for t in tied] == ["9", "3", "4"] and [t[3] for t in tied] == ["1", "2", "3"]
    scores = [float(t[4]) for t in tied]
    assert scores[0] == 2.5
    as_f32 = np.array(scores, dtype=np.float32)
    assert as_f32[0] > as_f32[1] > as_f32[2]
    assert scores[2] == pytest.approx(2.5, rel=1e-5)
    assert run_path("out/run.trec", "lexical", True) == Path("out/run.lexical.trec")
    assert run_path("out/run", "hybrid", True) == Path("out/run.hybrid")
    assert run_path("out/run.trec", "lexical", False) == Path("out/run.trec")


def _report() -> EvalReport:
    m = ModeReport("dense", {"Recall@10": 0.5}, 2, 2, 0, 0, 0.1, recall_curve=[0.1, 0.5, 0.7])
    return EvalReport(k=3, format="known-item", unjudged=0, modes=[m])


def test_plot_draws_png(tmp_path: Path) -> None:
    path = plot_recall(_report(), tmp_path / "curve.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    with pytest.raises(PlotUnavailable, match=r"pubmed-search\[plot\]"):
        plot_recall(_report(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --- end to end on tiny_index ----------------------------------------------------------------


@pytest.fixture
def index(request: pytest.FixtureRequest) -> Path:
    """tiny_index, once the store and the engine it needs are in the tree."""
    for module in ("indexer.store", "search.engine"):
        require(importlib.util.find_spec(module) is not None, f"{module} is not written yet")
    return request.getfixturevalue("tiny_index")


def _known_item_queries(rows: list[dict], path: Path) -> Path:
    """Queries derived from the synthetic articles: topic word + the title's words."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows[::6]:
            title = row["title"].split(":", 1)[1].strip(" .")
            f.write(json.dumps({"query": f"{row['topic']} {title}", "pmid": row["pmid"]}) + "\n")
    return path


def _parse_run(path: Path) -> dict[str, list[str]]:
    run: dict[str, list[tuple[int, str]]] = {}
    for line in path.read_text().splitlines():
        qid, q0, doc, rank, _score, _tag = line.split()
        assert q0 == "Q0"
        run.setdefault(qid, []).append((int(rank), doc))
    return {q: [d for _, d in sorted(v)] for q, v in run.items()}


def test_eval_end_to_end(index: Path, tiny_corpus, tmp_path: Path) -> None:
    _, rows = tiny_corpus
    queries = _known_item_queries(rows, tmp_path / "q.jsonl")
    n_queries = len(rows[::6])
    run_out = tmp_path / "run.trec"
    plot = tmp_path / "recall.png"
    args = ["eval", "--index", str(index), "--queries", str(queries), "--mode", "all"]
    args += ["--run-out", str(run_out), "--plot", str(plot), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["modes"]) == {"hybrid", "hybrid-fixed", "dense", "lexical"}
    assert report["k"] == 100 and report["format"] == "known-item"
    # hybrid is the index's calibrated fusion, hybrid-fixed the default (RRF 1/1, k 60)
    assert report["fusion_record"]["chosen_by"] == "calibration"
    assert "(calibration)" in report["fusion"]
    qrels = {str(i): str(row["pmid"]) for i, row in enumerate(rows[::6], start=1)}
    for mode, m in report["modes"].items():
        assert m["queries"] == n_queries and m["evaluated"] == n_queries
        assert m["no_relevant"] == 0 and m["errors"] == 0
        # the run file carries the same rankings the metrics were computed on
        run = _parse_run(run_out.with_name(f"run.{mode}.trec"))
        assert set(run) == set(qrels)
        assert all(len(docs) <= 100 for docs in run.values())
        rr = [
            1 / (docs[:10].index(qrels[q]) + 1) if qrels[q] in docs[:10] else 0.0
            for q, docs in run.items()
        ]
        r100 = [qrels[q] in docs[:100] for q, docs in run.items()]
        assert m["metrics"]["MRR@10"] == pytest.approx(sum(rr) / len(rr))
        assert m["metrics"]["Recall@100"] == pytest.approx(sum(r100) / len(r100))
        # known-item: one relevant doc, so MAP over the run equals MRR over the run
        full_rr = [
            1 / (docs.index(qrels[q]) + 1) if qrels[q] in docs else 0.0 for q, docs in run.items()
        ]
        assert m["metrics"]["MAP"] == pytest.approx(sum(full_rr) / len(full_rr))
        assert m["metrics"]["MAP"] >= m["metrics"]["MRR@10"] - 1e-9
    # the title words are in the article itself: far above a random ranking of 120 articles
    # (MRR@10 0.024, Recall@10 0.083)
    assert report["modes"]["lexical"]["metrics"]["MRR@10"] > 0.25
    assert report["modes"]["lexical"]["metrics"]["Recall@10"] > 0.5
    assert report["modes"]["hybrid"]["metrics"]["Recall@10"] > 0.4
    fixed = json.loads(
        CliRunner().invoke(cli, [*args[:-5], "--mode", "hybrid-fixed", "--json"]).stdout
    )
    assert fixed["modes"]["hybrid-fixed"]["metrics"] == report["modes"]["hybrid-fixed"]["metrics"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_table_beir_and_no_relevant(index: Path, tiny_corpus, tmp_path: Path) -> None:
    _, rows = tiny_corpus
    target, other = rows[0], rows[1]
    queries = _write(
        tmp_path / "queries.jsonl",
        json.dumps({"_id": "hit", "text": target["title"]})
        + "\n"
        + json.dumps({"_id": "nothing", "text": other["title"]})
        + "\n"
        + json.dumps({"_id": "unjudged", "text": "asthma"})
        + "\n",
    )
    qrels = _write(
        tmp_path / "qrels.tsv",
        f"query-id\tcorpus-id\tscore\nhit\t{target['pmid']}\t2\nnothing\t{other['pmid']}\t0\n",
    )
    args = ["eval", "--index", str(index), "--queries", str(queries), "--qrels", str(qrels)]
    result = CliRunner().invoke(cli, [*args, "--mode", "lexical", "-k", "20"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0].split()[:6] == [
        "mode", "nDCG@10", "MRR@10", "Recall@10", "Recall@100", "MAP"
    ]  # fmt: skip
    row = out.splitlines()[1].split()
    assert row[0] == "lexical"
    assert row[6] == "2" and row[7] == "1"  # 2 queries run, 1 without a relevant doc
    assert "1 queries without judgements" in out
    assert "Recall@100 is Recall@20" in out
    as_json = CliRunner().invoke(cli, [*args, "--mode", "lexical", "-k", "20", "--json"])
    m = json.loads(as_json.stdout)["modes"]["lexical"]
    assert m["evaluated"] == 1 and m["no_relevant"] == 1
    # only the "hit" query enters the means: its metrics are those of one query
    assert m["metrics"]["MAP"] == pytest.approx(m["metrics"]["MRR@10"])


def test_eval_errors(index: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "q.jsonl", '{"query": "x", "pmid": 1}\n{oops\n')
    result = CliRunner().invoke(cli, ["eval", "--index", str(index), "--queries", str(bad)])
    assert result.exit_code == 1
    assert "q.jsonl:2" in result.stderr
    good = _write(tmp_path / "g.jsonl", '{"query": "asthma", "pmid": 1}\n')
    blocker = _write(tmp_path / "file", "")
    args = ["eval", "--index", str(index), "--queries", str(good), "--mode", "lexical"]
    result = CliRunner().invoke(cli, [*args, "--run-out", str(blocker / "run.trec")])
    assert result.exit_code == 1 and "cannot write" in result.stderr
    result = CliRunner().invoke(
        cli,
        ["eval", "--index", str(tmp_path / "nothing"), "--queries", str(good)],
    )
    assert result.exit_code != 0
