"""indexer.durable: the one atomic + durable write of the project."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer import durable


def names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_write_bytes_and_text(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    durable.write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    durable.write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert names(tmp_path) == ["state.json"]
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not tempfile's 0600


def test_an_exception_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "index.faiss"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), durable.replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.exists() and tmp != target
        tmp.write_bytes(b"half-written")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["index.faiss"]
    new = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), durable.replacing(new) as tmp:
        raise KeyboardInterrupt
    assert names(tmp_path) == ["index.faiss"]  # no target either


def test_a_failed_fsync_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    target = tmp_path / "CURRENT"
    target.write_bytes(b"v000001\n")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="Input/output"):
        durable.write_text(target, "v000002\n")
    assert target.read_bytes() == b"v000001\n" and names(tmp_path) == ["CURRENT"]


def test_concurrent_writers_never_share_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    with durable.replacing(target) as a, durable.replacing(target) as b:
        assert a != b and a.exists() and b.exists()
        a.write_bytes(b"A")
        b.write_bytes(b"B")
    assert target.read_bytes() == b"A"  # b replaced first (inner block), then a
    payloads = [bytes([65 + i]) * 50_000 for i in range(6)]
    errors: list[BaseException] = []

    def writer(data: bytes) -> None:
        try:
            for _ in range(20):
                durable.write_bytes(target, data)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert target.read_bytes() in payloads  # one whole payload, never a mix
    assert names(tmp_path) == ["state.json"]


def test_the_file_then_its_directory_are_fsynced(tmp_path, monkeypatch) -> None:
    seen: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    target = tmp_path / "manifest.json"
    temps: list[Path] = []
    with durable.replacing(target) as tmp:
        temps.append(tmp)
        tmp.write_text("{}")
    assert seen == [str(temps[0]), str(tmp_path)]  # the temporary, then the directory
    seen.clear()
    durable.fsync_file(target)
    durable.fsync_dir(tmp_path)
    assert seen == [str(target), str(tmp_path)]


def test_writers_that_need_a_path_keep_the_extension(tmp_path: Path) -> None:
    target = tmp_path / "chunk-000000000001-000000000003.npz"
    with durable.replacing(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.name.startswith(".")  # np.savez appends no .npz
        np.savez(tmp, ids=np.arange(1, 4))
    assert np.load(target)["ids"].tolist() == [1, 2, 3]
    assert names(tmp_path) == [target.name]
    assert not list(tmp_path.glob("chunk-*.tmp*"))


def test_replacing_dir(tmp_path: Path) -> None:
    target = tmp_path / "models" / "all-MiniLM-L6-v2"
    with pytest.raises(ValueError), durable.replacing_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
        raise ValueError
    assert names(tmp_path / "models") == []
    with durable.replacing_dir(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "weights.bin").write_bytes(b"w")
        (tmp / ".extracted").write_text("1")
    assert (target / "sub" / "weights.bin").read_bytes() == b"w"
    assert names(tmp_path / "models") == ["all-MiniLM-L6-v2"]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    with pytest.raises(OSError), durable.replacing_dir(target) as tmp:  # someone got there first
        (tmp / "other").write_text("x")
    assert names(target) == [".extracted", "sub"]
    assert names(tmp_path / "models") == ["all-MiniLM-L6-v2"]
