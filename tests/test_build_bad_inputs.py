"""A build over several files where one breaks off (entity bomb, invalid UTF-8, truncated gzip):
the bad file is named with its reason, its records before the fault are kept, every other file
is built and published, and the CLI exits 5 (EXIT_BAD_INPUTS); --strict stops at it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from indexer.build import build
from indexer.build import pipeline as pipeline_module
from indexer.errors import EXIT_BAD_INPUTS, EXIT_FAILURE
from indexer.ingest.sources import SourceError
from indexer.manifest import IndexDir
from indexer.store.metadata import Store
from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.test_build import settings_for, snapshot
from tests.test_sources_hostile import BILLION_LAUGHS, document, record

GOOD_A = [r["pmid"] for r in synthetic_articles(5, seed=31, first_pmid=1000)]
GOOD_B = [r["pmid"] for r in synthetic_articles(5, seed=32, first_pmid=5000)]


def _good(path: Path, first_pmid: int, seed: int) -> Path:
    return write_jsonl(path, synthetic_articles(5, seed=seed, first_pmid=first_pmid))


def _invalid_utf8(path: Path) -> Path:
    """PMIDs 1 and 2 parse whole, then a record with invalid UTF-8."""
    head = document(record(1, "Asthma before") + record(2, "Sepsis before")).encode()
    tail = record(3, "bad " + "x" * 50_000).encode().replace(b"bad ", b"bad \xc3\x28")
    path.write_bytes(head.replace(b"</PubmedArticleSet>", tail + b"</PubmedArticleSet>"))
    return path


def _bomb(path: Path) -> Path:
    """PMID 11 parses whole, then libxml2 refuses an entity amplification."""
    doctype = BILLION_LAUGHS.replace("{big}", "x")
    body = record(11, "Stroke before") + record(12, "Laugh &lol9; out") + record(13)
    path.write_text(document(body, doctype))
    return path


def _truncated_gzip(path: Path) -> Path:
    body = "".join(record(i, f"Title {i}", f"Abstract {i} " * 20) for i in range(100, 3100))
    data = gzip.compress(document(body).encode(), compresslevel=1)
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    d = tmp_path / "in"
    d.mkdir()
    return [
        _good(d / "a.jsonl", 1000, 31),
        _invalid_utf8(d / "bad.xml"),
        _good(d / "b.jsonl", 5000, 32),
    ]


def test_a_bad_file_is_reported_and_the_others_are_published(tmp_path, three, tiny_model_dir):
    index_dir = tmp_path / "index"
    summary = build(index_dir, three, settings_for(tiny_model_dir))
    assert summary.published and IndexDir(index_dir).current_version() == summary.version
    [(path, reason)] = summary.failed_files
    assert path == str(three[1]) and reason
    assert "FAILED" in summary.line() and str(three[1]) in summary.line()
    # Both good files and the records of the bad one that parsed whole are searchable.
    assert sorted(snapshot(index_dir)) == sorted([1, 2, *GOOD_A, *GOOD_B])
    assert not (index_dir / ".build").exists()

    # A re-run over the same files applies nothing again and reports the bad file again.
    again = build(index_dir, three, settings_for(tiny_model_dir))
    assert not again.published and again.version == summary.version
    assert again.applied.get("added", 0) == 0 and again.applied.get("replaced", 0) == 0
    assert again.failed_files == summary.failed_files


def _cli(*args: str):
    from pubmed_search.commands.build import command

    return CliRunner().invoke(command, list(args))


def test_the_cli_names_each_bad_file_and_exits_5(tmp_path, tiny_model_dir):
    d = tmp_path / "in"
    d.mkdir()
    files = [
        _good(d / "a.jsonl", 1000, 31),
        _bomb(d / "bomb.xml"),
        _truncated_gzip(d / "cut.xml.gz"),
        _good(d / "b.jsonl", 5000, 32),
    ]
    index_dir = tmp_path / "index"
    result = _cli("--index", str(index_dir), "--model", str(tiny_model_dir), "--max-length",
                  "128", "--no-progress", *map(str, files))  # fmt: skip
    assert result.exit_code == EXIT_BAD_INPUTS == 5, result.output
    assert "Traceback" not in result.output
    assert "version 1" in result.stdout and "2 input file(s) FAILED" in result.stdout
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error: ")]
    assert str(files[1]) in line and "amplification" in line
    assert str(files[2]) in line and "truncated" in line
    got = set(snapshot(index_dir))
    assert {11, *GOOD_A, *GOOD_B} <= got and not {12, 13} & got
    assert {100, 101} <= got  # the truncated file's records before the cut


def test_strict_stops_at_the_bad_file_and_publishes_nothing(tmp_path, three, tiny_model_dir):
    index_dir = tmp_path / "index"
    base = write_jsonl(tmp_path / "base.jsonl", synthetic_articles(8, seed=33, first_pmid=9000))
    build(index_dir, [base], settings_for(tiny_model_dir))
    version, before = IndexDir(index_dir).current_version(), snapshot(index_dir)

    with pytest.raises(SourceError, match=r"bad\.xml"):
        build(index_dir, three, settings_for(tiny_model_dir, strict=True))
    result = _cli("--index", str(index_dir), "--strict", "--no-progress", *map(str, three))
    assert result.exit_code == EXIT_FAILURE, result.output
    assert str(three[1]) in result.stderr and "FAILED" not in result.stdout
    assert IndexDir(index_dir).current_version() == version
    after = snapshot(index_dir)
    assert sorted(after) == sorted(before)
    assert all(np.array_equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("kill_at_apply", [6, 7, 8])
def test_a_kill_around_the_bad_file_resumes_exactly(
    tmp_path, three, tiny_model_dir, monkeypatch, kill_at_apply
):
    """One record per batch: killed at the bad file's first or second record, or right after
    its failure was recorded; the re-run ends as the uninterrupted build and names the file."""
    settings = settings_for(tiny_model_dir, ingest_batch=1)
    reference = build(tmp_path / "ref", three, settings)
    want = snapshot(tmp_path / "ref")

    real_apply, calls = Store.apply, 0

    def apply(self, batch, version):
        nonlocal calls
        calls += 1
        if calls == kill_at_apply:
            raise KeyboardInterrupt
        return real_apply(self, batch, version)

    monkeypatch.setattr(Store, "apply", apply)
    index_dir = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        build(index_dir, three, settings)
    monkeypatch.setattr(Store, "apply", real_apply)
    assert IndexDir(index_dir).current_version() is None

    resumed = build(index_dir, three, settings)
    assert resumed.failed_files == reference.failed_files
    assert resumed.applied == reference.applied
    got = snapshot(index_dir)
    assert sorted(got) == sorted(want)
    for pmid, vec in want.items():
        np.testing.assert_allclose(got[pmid], vec, atol=2e-3)


def test_a_strict_rerun_of_a_build_that_recorded_a_failure_stops(tmp_path, three, tiny_model_dir):
    """Killed after the bad file was recorded, resumed with --strict: it stops at that file."""
    index_dir = tmp_path / "index"
    real = pipeline_module.encode_chunks

    def boom(*a, **k):
        raise KeyboardInterrupt

    pipeline_module.encode_chunks = boom
    try:
        with pytest.raises(KeyboardInterrupt):
            build(index_dir, three, settings_for(tiny_model_dir))
    finally:
        pipeline_module.encode_chunks = real
    with pytest.raises(SourceError, match=r"bad\.xml"):
        build(index_dir, three, settings_for(tiny_model_dir, strict=True))
    assert IndexDir(index_dir).current_version() is None


def test_the_ray_parse_keeps_the_records_before_the_fault(tmp_path):
    """--ray parses a file on a worker: the driver gets the same records and the same error."""
    from indexer.build import distributed
    from indexer.ingest.sources import SourceStats

    bad = _invalid_utf8(tmp_path / "bad.xml")
    records, stats, reason = distributed._parse_file(str(bad))
    assert [r.pmid for r in records] == [1, 2] and reason

    class FakeRay:
        @staticmethod
        def get(ref):
            return ref

    runner = object.__new__(distributed.RayRunner)
    runner.ray, runner.prefetch, runner._queue = FakeRay(), 1, []
    runner._pending = {bad: (records, stats, reason)}
    got: list = []
    with pytest.raises(SourceError) as err:
        got.extend(runner.iter_records(bad, SourceStats()))
    assert [r.pmid for r in got] == [1, 2] and str(bad) in str(err.value)
