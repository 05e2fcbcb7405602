"""Durable, atomic writes: a reader (or a re-run after a kill) sees the old file or the new one,
never a mix, and a finished write survives a power cut.

Every writer of the project goes through :func:`replacing` (or its shorthands): the content is
written to a temporary name that is unique in the target's directory (``tempfile``; two
writers of one target never share it), the file is fsync'd, ``os.replace``'d onto the target
and the directory fsync'd. On any exception the temporary is removed and the target is left as
it was. :func:`replacing_dir` does the same for a directory built in one go (e.g. extracted
model weights).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

StrPath = str | os.PathLike[str]


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# tempfile creates files 0600 and directories 0700; a written target gets the mode a plain
# open() / mkdir() would give it (e.g. an index readable by the server's user).
_UMASK = _read_umask()


def fsync_file(path: StrPath) -> None:
    """fsync the file at ``path`` (its data and size)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: StrPath) -> None:
    """fsync a directory, so that names created, replaced or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: StrPath) -> None:
    """fsync every file under ``root`` and every directory (names durable too)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fsync_file(Path(dirpath) / name)
        fsync_dir(dirpath)


def _temp_name(path: Path) -> tuple[str, str]:
    """(prefix, suffix) of a temporary beside ``path``: hidden, and ending in the target's own
    extension (``np.savez`` appends ``.npz`` to names without it)."""
    return f".{path.name}.", f".tmp{path.suffix}"


@contextlib.contextmanager
def replacing(path: StrPath) -> Iterator[Path]:
    """A new, empty temporary file beside ``path``: write it (by name: ``faiss.write_index``,
    ``np.savez``, ``torch.save``, ``open``), close it, and leave the block; then it becomes
    ``path`` durably. On an exception the temporary is removed and ``path`` is untouched."""
    path = Path(path)
    prefix, suffix = _temp_name(path)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)
        finally:
            os.close(fd)
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def replacing_dir(path: StrPath) -> Iterator[Path]:
    """A new, empty temporary directory beside ``path``: fill it and leave the block; then its
    files and it are fsync'd and it is renamed to ``path`` (which must not exist or be empty:
    else ``OSError``, e.g. another process got there first). On an exception the temporary
    tree is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, _ = _temp_name(path)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~_UMASK)
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def write_bytes(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: StrPath, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically and durably."""
    write_bytes(path, text.encode(encoding))
