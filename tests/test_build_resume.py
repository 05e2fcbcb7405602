"""Kill a real build process with SIGKILL at each phase; the re-run must end identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build
from indexer.lexical import Analysis, LexicalIndex
from indexer.manifest import IndexDir
from indexer.store import Store
from tests.fixtures.common import REPO
from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.test_build import settings_for, snapshot

pytestmark = pytest.mark.slow


def run_build(index_dir: Path, model: Path, inputs: list[Path], pause: str | None = None):
    """The real CLI in a subprocess; ``pause``: stop at that phase (tests/fixtures/hooks.py)."""
    env = dict(os.environ, PUBMED_SEARCH_INGEST_BATCH="10", PUBMED_SEARCH_CHUNK_SIZE="16")
    cmd = [sys.executable, "-m", "tests.fixtures.hooks", *(["--pause-at", pause] if pause else [])]
    cmd += ["build", "--index", str(index_dir), "--model", str(model), "--max-length", "128"]
    cmd += ["--no-progress", *map(str, inputs)]
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def kill_at(proc: subprocess.Popen, phase: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == f"PAUSED {phase}":
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"build never reached phase {phase}: {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("inputs")
    base = synthetic_articles(60, seed=11)
    update = [dict(base[0], version=2, title="Revised title on stent thrombosis")]
    update += [*synthetic_articles(30, seed=12, first_pmid=7000), {"delete": base[3]["pmid"]}]
    return write_jsonl(d / "base.jsonl", base), write_jsonl(d / "update.jsonl", update)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir: Path, inputs) -> tuple[dict, dict]:
    """The uninterrupted build: base file, then the update file (vectors, lexical results)."""
    index_dir = tmp_path_factory.mktemp("reference") / "index"
    build(index_dir, [inputs[0]], settings_for(tiny_model_dir))
    build(index_dir, [inputs[1]], settings_for(tiny_model_dir))
    return snapshot(index_dir), lexical_snapshot(index_dir)


LEXICAL_QUERIES = ["asthma inhaled", "stent thrombosis", "insulin glucose patients", "the"]


def lexical_snapshot(index_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """(PMID, BM25 score) of every match of a few queries at the published version."""
    idx = IndexDir(index_dir)
    manifest = idx.read_manifest()
    lexical = LexicalIndex(idx.lexical_path(manifest.version), Analysis.from_dict(manifest.lexical))
    store = Store(idx.default_store_url(), readonly=True)
    try:
        out = {}
        for q in LEXICAL_QUERIES:
            hits, total = lexical.search(q, limit=1000)
            assert total == len(hits)
            docs = store.get_docs([d for d, _ in hits])
            out[q] = [(docs[d].article.pmid, score) for d, score in hits]
        return out
    finally:
        store.close()


def assert_same_lexical(got: dict, want: dict) -> None:
    """The same matches with the same BM25 scores, up to the collection statistics of deleted
    revisions, which count until Tantivy merges their segment (its merges run in the
    background, so whether one purged them differs between two builds of the same inputs; in
    this 91-document collection, 2 removed revisions move scores by up to a few percent)."""
    assert sorted(got) == sorted(want)
    for q, hits in want.items():
        assert {p for p, _ in got[q]} == {p for p, _ in hits}, q
        scores = dict(got[q])
        for pmid, score in hits:
            assert scores[pmid] == pytest.approx(score, rel=0.1), (q, pmid)


def assert_same(got: dict[int, np.ndarray], want: dict[int, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for pmid, vec in want.items():
        np.testing.assert_allclose(got[pmid], vec, atol=2e-3)


@pytest.mark.parametrize("phase", ["ingest", "lexical", "encode", "faiss", "publish"])
def test_killed_update_resumes_to_the_same_index(
    tmp_path: Path, tiny_model_dir: Path, inputs, reference, phase: str
):
    index_dir = tmp_path / "index"
    build(index_dir, [inputs[0]], settings_for(tiny_model_dir))
    published = IndexDir(index_dir).current_version()
    before, lexical_before = snapshot(index_dir), lexical_snapshot(index_dir)

    kill_at(run_build(index_dir, tiny_model_dir, [inputs[1]], pause=phase), phase)
    # Readers still see the previous complete version, untouched: the same articles, and
    # bit-identical BM25 scores (nothing staged counts in the published statistics).
    assert IndexDir(index_dir).current_version() == published
    assert_same(snapshot(index_dir), before)
    assert lexical_snapshot(index_dir) == lexical_before

    proc = run_build(index_dir, tiny_model_dir, [inputs[1]])
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_same(snapshot(index_dir), reference[0])
    assert_same_lexical(lexical_snapshot(index_dir), reference[1])
    assert not (index_dir / ".build").exists()


def test_killed_first_build_mid_embedding_resumes(tmp_path: Path, tiny_model_dir: Path, inputs):
    index_dir = tmp_path / "index"
    kill_at(run_build(index_dir, tiny_model_dir, [inputs[0]], pause="encode"), "encode")
    assert IndexDir(index_dir).current_version() is None
    chunks = list((index_dir / ".build" / "chunks").glob("chunk-*.npz"))
    assert len(chunks) == 1  # killed right after the first checkpoint
    mtime = chunks[0].stat().st_mtime_ns

    # Resume, stopping again before FAISS: the finished chunk was reused, not re-encoded.
    kill_at(run_build(index_dir, tiny_model_dir, [inputs[0]], pause="faiss"), "faiss")
    assert chunks[0].stat().st_mtime_ns == mtime
    assert len(list(chunks[0].parent.glob("chunk-*.npz"))) > 1

    proc = run_build(index_dir, tiny_model_dir, [inputs[0]])
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    uninterrupted = tmp_path / "plain"
    build(uninterrupted, [inputs[0]], settings_for(tiny_model_dir))
    assert_same(snapshot(index_dir), snapshot(uninterrupted))
