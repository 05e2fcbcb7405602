"""`build --index DIR` only writes into a new, empty or own directory, and only deletes what it
can prove it wrote (a ``.build/`` with the build's marker file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import NotAnIndexDirectory, build
from indexer.build.checkpoint import MARKER
from indexer.errors import EXIT_USAGE
from indexer.manifest import IndexDir
from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.test_build import settings_for
from tests.test_cli_errors import assert_one_line


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_articles(12, seed=5))


def _user_dir(root: Path) -> dict[Path, bytes]:
    """A user's directory with a file of theirs and a ``.build/`` of theirs."""
    (root / ".build" / "deep").mkdir(parents=True)
    files = {
        root / "notes.txt": b"my notes\n",
        root / ".build" / "Makefile": b"all:\n\techo mine\n",
        root / ".build" / "deep" / "artifact.o": b"\x7fELF",
    }
    for path, data in files.items():
        path.write_bytes(data)
    return files


def _all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_user_directory_is_refused_and_left_alone(tmp_path: Path, corpus, tiny_model_dir):
    root = tmp_path / "mine"
    files = _user_dir(root)
    before = _all_files(root)
    with pytest.raises(NotAnIndexDirectory) as err:
        build(root, [corpus], settings_for(tiny_model_dir))
    assert str(root) in str(err.value) and err.value.exit_code == EXIT_USAGE
    assert _all_files(root) == before  # no store, no lock file, no CURRENT
    for path, data in files.items():
        assert path.read_bytes() == data


def test_the_cli_refuses_a_user_directory_with_exit_2(tmp_path: Path, corpus, tiny_model_dir):
    from pubmed_search.commands.build import command

    root = tmp_path / "mine"
    (root / "thesis.tex").parent.mkdir(parents=True)
    (root / "thesis.tex").write_text("\\documentclass{article}")
    args = ["--index", str(root), "--model", str(tiny_model_dir), "--no-progress", str(corpus)]
    result = CliRunner().invoke(command, args)
    assert_one_line(result, EXIT_USAGE, str(root), "not a pubmed-search index")
    assert _all_files(root) == {"thesis.tex"}


def test_a_foreign_build_dir_in_an_index_is_never_deleted(tmp_path: Path, corpus, tiny_model_dir):
    """An index whose ``.build/`` is not ours: refused, and the ``.build/`` survives."""
    root = tmp_path / "index"
    build(root, [corpus], settings_for(tiny_model_dir))
    version = IndexDir(root).current_version()
    (root / ".build").mkdir()
    (root / ".build" / "keep.txt").write_text("mine")
    with pytest.raises(NotAnIndexDirectory, match="not a build checkpoint"):
        build(root, [corpus], settings_for(tiny_model_dir))
    assert (root / ".build" / "keep.txt").read_text() == "mine"
    assert IndexDir(root).current_version() == version


def test_empty_and_new_directories_and_indexes_still_build(tmp_path: Path, corpus, tiny_model_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(empty, [corpus], settings_for(tiny_model_dir)).published
    assert not (empty / ".build").exists()
    fresh = tmp_path / "a" / "b" / "new"
    assert build(fresh, [corpus], settings_for(tiny_model_dir)).published
    more = write_jsonl(tmp_path / "in" / "b.jsonl", synthetic_articles(3, seed=6, first_pmid=900))
    again = build(fresh, [more], settings_for(tiny_model_dir))  # an index: updated as before
    assert again.published and again.applied["added"] == 3


def test_a_build_in_progress_of_ours_resumes(tmp_path: Path, corpus, tiny_model_dir):
    """A first build stopped after its checkpoint dir was made, or before (only the lock file
    and the store exist), is recognised as ours and finishes."""
    import indexer.build.pipeline as pipeline

    for stop_after in ("lock", "checkpoint"):
        root = tmp_path / stop_after
        real = pipeline.ingest if stop_after == "checkpoint" else pipeline.open_state

        def boom(*a, **k):
            raise KeyboardInterrupt

        setattr(pipeline, real.__name__, boom)
        try:
            with pytest.raises(KeyboardInterrupt):
                build(root, [corpus], settings_for(tiny_model_dir))
        finally:
            setattr(pipeline, real.__name__, real)
        assert (root / ".build" / MARKER).is_file() == (stop_after == "checkpoint")
        assert IndexDir(root).current_version() is None
        assert build(root, [corpus], settings_for(tiny_model_dir)).published
        assert not (root / ".build").exists()


def test_a_legacy_checkpoint_without_the_marker_is_ours(tmp_path: Path, corpus, tiny_model_dir):
    """A ``.build/`` of a build from before the marker (its state.json loads) resumes."""
    import indexer.build.pipeline as pipeline

    root = tmp_path / "index"
    real = pipeline.ingest

    def boom(*a, **k):
        raise KeyboardInterrupt

    pipeline.ingest = boom
    try:
        with pytest.raises(KeyboardInterrupt):
            build(root, [corpus], settings_for(tiny_model_dir))
    finally:
        pipeline.ingest = real
    (root / ".build" / MARKER).unlink()
    (root / ".build.lock").write_text("")  # as an older build left it
    assert build(root, [corpus], settings_for(tiny_model_dir)).published
    assert not (root / ".build").exists()
