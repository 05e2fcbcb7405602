"""A full disk or a read-only index directory: a clear error, the published index untouched."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.build import BuildError, build
from indexer.manifest import IndexDir
from tests.fixtures.common import require
from tests.fixtures.indexes import synthetic_articles, write_jsonl
from tests.test_build import settings_for, snapshot


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs, so the disk really fills up (needs root, as in CI)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    ok = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt))
    require(ok, "mounting a tmpfs needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    base = write_jsonl(tmp_path / "base.jsonl", synthetic_articles(30, seed=21))
    update = write_jsonl(tmp_path / "up.jsonl", synthetic_articles(300, seed=22, first_pmid=8000))
    return base, update


def _fill(mnt: Path, leave: int) -> Path:
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    filler = mnt / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def _same(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> bool:
    return sorted(a) == sorted(b) and all(np.allclose(a[k], b[k]) for k in a)


def test_disk_full_is_a_clear_error_and_keeps_the_published_index(
    small_fs: Path, inputs, tiny_model_dir: Path
):
    index_dir = small_fs / "index"
    build(index_dir, [inputs[0]], settings_for(tiny_model_dir))
    version = IndexDir(index_dir).current_version()
    before = snapshot(index_dir)
    filler = _fill(small_fs, leave=16 * 1024)

    with pytest.raises(BuildError) as err:
        build(index_dir, [inputs[1]], settings_for(tiny_model_dir))
    message = str(err.value)
    assert str(index_dir) in message or "store" in message.lower()
    assert "unchanged" in message or "No space" in message or "full" in message
    assert IndexDir(index_dir).current_version() == version
    assert _same(snapshot(index_dir), before)

    filler.unlink()  # space again: the same command now finishes the update
    summary = build(index_dir, [inputs[1]], settings_for(tiny_model_dir))
    assert summary.published
    assert len(snapshot(index_dir)) == 330


def test_read_only_index_directory_is_a_clear_error(small_fs: Path, inputs, tiny_model_dir: Path):
    index_dir = small_fs / "index"
    build(index_dir, [inputs[0]], settings_for(tiny_model_dir))
    before = snapshot(index_dir)
    assert _mount("-o", "remount,ro", str(small_fs))
    try:
        with pytest.raises(BuildError) as err:
            build(index_dir, [inputs[1]], settings_for(tiny_model_dir))
        assert "Read-only" in str(err.value) or "cannot write" in str(err.value)
        assert _same(snapshot(index_dir), before)  # readers still open the published index
    finally:
        _mount("-o", "remount,rw", str(small_fs))
