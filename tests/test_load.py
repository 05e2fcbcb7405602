"""Bounded load test of a real ``pubmed-search serve`` process (marker ``load``).

The index: the 1,000 real PubMedQA abstracts, built with the tiny test model (the bench,
bench/load.py, uses the real all-MiniLM-L6-v2 weights). The server runs with 8 threads; 16
client threads with keep-alive connections send the requests of bench/_load.py:

- 2,000 mixed requests (search in every mode, filtered, POST, page 2, similar, article,
  RIS/BibTeX/CSV exports, unknown PMIDs): zero errors within the time cap, and every
  response equal to the one a serial run of the same requests gets (status, JSON apart from
  took_ms, export bytes). p50/p99/rps are printed.
  The serial reference sends each distinct request once (responses are deterministic).
- Memory: server RSS after a warm-up (every distinct query once, plus 500 mixed requests),
  then after 10,000 further requests of the "cheap" mix (65% article, 30% lexical, 5%
  hybrid/dense, to bound the time): growth under 10%.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bench._load import (
    MODES,
    Request,
    by_kind,
    compare,
    corpus_queries,
    distinct,
    expand,
    make_requests,
    read_jsonl,
    rss_kb,
    run_load,
    start_server,
    stop_server,
)
from tests.fixtures.common import shared_file
from tests.fixtures.indexes import write_jsonl

pytestmark = pytest.mark.load

CLIENTS = 16
MIXED_REQUESTS = 2_000
VOLUME_REQUESTS = 10_000
TIME_CAP = 100.0  # seconds per run; the run fails when it is hit
MAX_RSS_GROWTH = 0.10


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    rows = read_jsonl(shared_file("pubmedqa", "corpus.jsonl"))
    assert len(rows) >= 1000
    return rows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, corpus):
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    d = tmp_path_factory.mktemp("load")
    # a copy in the test's own directory (the shared file is never written)
    path = write_jsonl(d / "corpus.jsonl", corpus)
    settings = BuildSettings(model=str(tiny_model_dir), max_length=128, show_progress=False)
    summary = build(d / "index", [path], settings)
    assert summary.published and summary.articles == len(corpus)
    proc, address = start_server(d / "index", threads=8, extra=["--reload-interval", "0"])
    try:
        yield proc, address
    finally:
        stop_server(proc)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def queries(corpus) -> list[str]:
    qs = corpus_queries(corpus, n=300, seed=1)
    assert len(qs) == 300
    return qs


def test_mixed_load_has_no_errors_and_matches_a_serial_run(server, corpus, queries, capsys):
    proc, address = server
    requests = make_requests(corpus, MIXED_REQUESTS, mix="mixed", seed=2, queries=queries)
    kinds = by_kind(requests)
    assert set(kinds) >= {*MODES, "filtered", "post", "similar", "article", "export"}
    assert len({r.path for r in requests if r.kind in MODES}) > 200  # the LRU is not everything

    concurrent = run_load(address, requests, clients=CLIENTS, time_cap=TIME_CAP)
    assert not concurrent.capped, f"time cap {TIME_CAP}s hit: {concurrent.stats()}"
    assert concurrent.errors == [], concurrent.errors[:5]
    unique = distinct(requests)
    serial = run_load(address, unique, clients=1, time_cap=TIME_CAP * 2)
    assert not serial.capped and serial.errors == [], serial.errors[:5]

    reference = expand(requests, unique, serial.responses)
    diffs = compare(requests, concurrent.responses, reference)
    assert diffs == [], f"{len(diffs)} responses differ, e.g. {diffs[:3]}"
    # the responses are real: searches found articles, exports carry records
    found = [r for q, r in zip(requests, reference, strict=True) if q.kind == "lexical"]
    assert sum(b'"pmid"' in r.body for r in found if r) > len(found) // 2
    assert proc.poll() is None
    with capsys.disabled():
        print(f"\nload mixed ({CLIENTS} clients, tiny model, 1000 PubMedQA): {concurrent.stats()}")
        print(f"serial: {serial.stats()}  kinds: {kinds}")


def test_memory_stays_flat_over_ten_thousand_requests(server, corpus, queries, capsys):
    proc, address = server
    # warm-up: every distinct query in every mode once, plus a mixed run
    warm = [
        Request(m, "GET", "/api/search?" + urlencode({"q": q, "mode": m}))
        for q in queries
        for m in ("hybrid",)  # embeds the query and runs the full-text search
    ]
    warm += make_requests(corpus, 500, mix="mixed", seed=3, queries=queries)
    result = run_load(address, warm, clients=CLIENTS, time_cap=TIME_CAP)
    assert not result.capped and result.errors == [], result.errors[:5]
    before = rss_kb(proc.pid)

    volume = make_requests(corpus, VOLUME_REQUESTS, mix="cheap", seed=4, queries=queries)
    result = run_load(address, volume, clients=CLIENTS, time_cap=TIME_CAP)
    assert not result.capped, f"time cap {TIME_CAP}s hit: {result.stats()}"
    assert result.errors == [], result.errors[:5]
    after = rss_kb(proc.pid)
    growth = (after - before) / before
    with capsys.disabled():
        print(
            f"\nload cheap ({CLIENTS} clients): {result.stats()}; "
            f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({growth:+.1%})"
        )
    assert growth < MAX_RSS_GROWTH, f"RSS grew {growth:.1%}: {before} -> {after} KiB"
