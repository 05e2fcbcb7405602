"""CLI failures are one readable line on stderr and the documented exit code (indexer/errors.py).

Commands are invoked on their own command objects (as other CLI tests do) and through the
group: the mapping in pubmed_search/cli.py applies to both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from indexer.errors import EXIT_DAMAGED, EXIT_UNAVAILABLE, EXIT_USAGE
from indexer.manifest import FAISS_NAME, MANIFEST_NAME, IndexDir
from indexer.store.schema import SCHEMA_VERSION


def assert_one_line(result: Result, exit_code: int, *needles: str) -> str:
    """The single ``Error: ...`` line the command printed, after checking the exit code."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def assert_nothing_written(index_dir: Path) -> None:
    """No store, no build checkpoint and nothing published in ``index_dir``."""
    for name in ("store.sqlite", ".build", "CURRENT", "vectors.f16", "versions"):
        assert not (index_dir / name).exists(), name


def _build(*args: str, env: dict[str, str] | None = None) -> Result:
    from pubmed_search.commands.build import command

    return CliRunner().invoke(command, list(args), env=env)


# --- build: a bad --db URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "exit_code", "needle"),
    [
        ("nonsense://x", EXIT_USAGE, "unsupported database backend 'nonsense'"),
        ("postgresql://u@host:port/x", EXIT_USAGE, "not a database URL"),
        ("postgresql+nodriver://u@host/x", EXIT_USAGE, "no such database driver"),
        ("postgresql+psycopg://u@127.0.0.1:1/x", EXIT_UNAVAILABLE, "cannot connect"),
    ],
)
def test_build_refuses_a_bad_db_url(tmp_path, tiny_model_dir, tiny_corpus, url, exit_code, needle):
    path, _ = tiny_corpus
    index_dir = tmp_path / "index"
    result = _build(
        "--index", str(index_dir), "--model", str(tiny_model_dir), "--db", url,
        "--no-progress", str(path),
    )  # fmt: skip
    line = assert_one_line(result, exit_code, needle)
    assert "127.0.0.1" in line or url in line
    assert_nothing_written(index_dir)


# --- build: invalid options are refused before any ingest or embedding ----------------------


@pytest.mark.parametrize(
    ("args", "env", "needles"),
    [
        (["--index-type", "bogus"], None, ["--index-type", "'bogus'"]),
        (["--index-type", "IVF16,PQ5"], None, ["--index-type", "IVF16,PQ5"]),  # 5 ∤ dim 32
        ([], {"PUBMED_SEARCH_BATCH_SIZE": "0"}, ["--batch-size", "got 0"]),
        ([], {"PUBMED_SEARCH_POOLING": "max"}, ["--pooling", "'max'"]),
        ([], {"PUBMED_SEARCH_DB_URL": "nonsense://x"}, ["nonsense"]),
    ],
)
def test_build_refuses_invalid_options_before_any_work(
    tmp_path, tiny_model_dir, tiny_corpus, args, env, needles
):
    path, _ = tiny_corpus
    index_dir = tmp_path / "index"
    result = _build(
        "--index", str(index_dir), "--model", str(tiny_model_dir), *args, "--no-progress",
        str(path), env=env,
    )  # fmt: skip
    assert_one_line(result, EXIT_USAGE, *needles)
    assert_nothing_written(index_dir)


def test_build_validates_settings_itself(tmp_path, tiny_model_dir, tiny_corpus):
    from indexer.build import build
    from indexer.build.settings import BuildSettings
    from indexer.errors import InvalidParameter

    path, _ = tiny_corpus
    settings = BuildSettings(model=str(tiny_model_dir), index_type="bogus", show_progress=False)
    with pytest.raises(InvalidParameter, match="--index-type"):
        build(tmp_path / "index", [path], settings)
    assert_nothing_written(tmp_path / "index")
    with pytest.raises(InvalidParameter, match="--chunk-size"):
        BuildSettings(chunk_size=0).validate()
    assert BuildSettings(index_type="IVF4,Flat").validate(dim=32).index_type == "IVF4,Flat"


# --- a damaged index: query, info and serve ---------------------------------------------------


def _damage(index_dir: Path, how: str) -> str:
    """Damage the published version of ``index_dir``; returns what the message must name."""
    idx = IndexDir(index_dir)
    version = idx.current_version()
    assert version is not None
    if how == "truncated faiss":
        faiss_path = idx.faiss_path(version)
        faiss_path.write_bytes(faiss_path.read_bytes()[:100])
        return FAISS_NAME
    if how == "missing store":
        idx.store_path.unlink()
        return "no metadata store"
    if how == "schema 2 store":  # written before the complete citation (#17)
        import sqlite3

        with sqlite3.connect(idx.store_path) as db:
            db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        db.close()
        return f"schema version 2 (this pubmed-search reads version {SCHEMA_VERSION})"
    if how == "manifest not json":
        (idx.version_dir(version) / MANIFEST_NAME).write_text('{"version": 1, ')
        return "not valid JSON"
    raise AssertionError(how)


@pytest.fixture(params=["truncated faiss", "missing store", "schema 2 store", "manifest not json"])
def damaged(request, tmp_path, tiny_index) -> tuple[Path, str, str]:
    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    return index_dir, request.param, _damage(index_dir, request.param)


def test_query_on_a_damaged_index(damaged):
    from pubmed_search.commands.query import command

    index_dir, _, needle = damaged
    result = CliRunner().invoke(command, ["--index", str(index_dir), "asthma"])
    assert_one_line(result, EXIT_DAMAGED, needle, "damaged")


def test_serve_on_a_damaged_index(damaged):
    from pubmed_search.commands.serve import command

    index_dir, _, needle = damaged
    result = CliRunner().invoke(command, ["--index", str(index_dir), "--port", "0"])
    assert_one_line(result, EXIT_DAMAGED, needle)
    assert "Serving" not in result.output


def test_info_on_a_damaged_manifest(tmp_path, tiny_index):
    from pubmed_search.cli import cli

    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    needle = _damage(index_dir, "manifest not json")
    result = CliRunner().invoke(cli, ["info", "--index", str(index_dir)])  # through the group
    assert_one_line(result, EXIT_DAMAGED, needle, MANIFEST_NAME)


def test_a_directory_without_an_index_is_not_a_damaged_one(tmp_path):
    from pubmed_search.commands.info import command

    result = CliRunner().invoke(command, ["--index", str(tmp_path)])
    assert_one_line(result, 1, "no published index")
