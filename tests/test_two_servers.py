"""The shared deployment: several `pubmed-search serve` processes over one published index
directory whose metadata lives in one PostgreSQL database.

An index is built with ``--db`` pointing at a fresh PostgreSQL database (the CLI, as an
operator would); two servers on two free loopback ports serve it (each maps the same FAISS
file and vectors.f16 read-only, and reads the same store); they must answer searches,
articles and similar-article requests identically.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.fixtures.web import start_server, stop_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

QUERIES = ["asthma inhaled budesonide", "insulin glucose", "coronary stent troponin", "sepsis"]


def _get(base: str, path: str, **params: object) -> dict:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def _strip(page: dict) -> dict:
    """The answer without per-process timings."""
    return {k: v for k, v in page.items() if k not in ("took_ms", "rerank_ms")}


def test_two_servers_share_index_and_postgres(
    pg_url: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    rows = synthetic_articles(90, seed=11)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    index_dir = tmp_path / "index"
    cmd = [sys.executable, "-m", "pubmed_search.cli", "build", "--index", str(index_dir)]
    cmd += ["--db", pg_url, "--model", str(tiny_model_dir), "--no-progress", str(corpus)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not (index_dir / "store.sqlite").exists()  # the metadata went to PostgreSQL
    manifest = json.loads(next(index_dir.glob("versions/*/manifest.json")).read_text())
    assert manifest["store_url"] == pg_url

    servers = [start_server(index_dir), start_server(index_dir)]
    try:
        (_, a), (_, b) = servers
        assert a != b
        pmids = [r["pmid"] for r in rows[:5]]
        for q in QUERIES:
            for mode in ("hybrid", "dense", "lexical"):
                pa = _get(a, "/api/search", q=q, mode=mode, k=10)
                pb = _get(b, "/api/search", q=q, mode=mode, k=10)
                assert _strip(pa) == _strip(pb)
                assert pa["results"] or mode == "lexical"
        for pmid in pmids:
            aa, ab = _get(a, f"/api/articles/{pmid}"), _get(b, f"/api/articles/{pmid}")
            assert aa == ab and str(pmid) in json.dumps(aa)
            sa = _get(a, f"/api/articles/{pmid}/similar", k=5)
            sb = _get(b, f"/api/articles/{pmid}/similar", k=5)
            assert _strip(sa) == _strip(sb) and len(sa["results"]) == 5
            assert pmid not in [h["pmid"] for h in sa["results"]]
    finally:
        for proc, _ in servers:
            stop_server(proc)
