"""The index directory's build lock, and the refusal of directories that are not ours.

``index_lock`` holds ``DIR/.build.lock`` (``fcntl.flock``, so a killed holder releases it) for
a build, or for ``sync`` across its downloads and the builds it runs (re-entrant in one
thread). A directory is built into only if it is new, empty, an index (``CURRENT``) or a build
of ours in progress (``.build/`` with our marker, or a lock file with :data:`LOCK_TEXT`).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.build.checkpoint import check_owned
from indexer.build.errors import BuildError, NotAnIndexDirectory
from indexer.manifest import IndexDir

LOCK_TEXT = "pubmed-search build lock\n"  # written into a new .build.lock: the directory is ours


def _check_index_dir(idx: IndexDir) -> None:
    """Refuse (:class:`NotAnIndexDirectory`, before anything is written) an ``--index`` that is
    neither new, empty, an index (CURRENT) nor a build in progress of ours."""
    root = idx.root
    if not (root.exists() or root.is_symlink()):
        return
    if not root.is_dir():
        raise NotAnIndexDirectory(root, "it is not a directory")
    check_owned(idx.build_dir)  # a .build/ that is not ours is never used nor deleted
    if idx.current_file.exists() or idx.build_dir.exists():
        return
    try:
        if idx.lock_file.read_text().startswith(LOCK_TEXT):
            return  # a build of ours started here and stopped before its first checkpoint
    except (OSError, UnicodeDecodeError):
        pass
    entries = sorted(p.name for p in root.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise NotAnIndexDirectory(
            root,
            f"it is not empty ({len(entries)} entries: {shown}) and is not a pubmed-search "
            "index (no CURRENT file, no build in progress)",
        )


def _make_lock_file(path: Path) -> None:
    if not path.exists():
        path.write_text(LOCK_TEXT)


_held = threading.local()  # lock files this thread holds (index_lock is re-entrant per thread)


@contextmanager
def index_lock(index_dir: str | os.PathLike[str]) -> Iterator[IndexDir]:
    """Hold ``index_dir``'s build lock (creating the directory if it is new); refuses an
    ``--index`` that is not ours (:class:`NotAnIndexDirectory`) and a directory another
    build or sync holds (:class:`BuildError`). Re-entrant in one thread, so ``sync`` holds it
    across its downloads and the builds it runs."""
    idx = IndexDir(index_dir)
    _check_index_dir(idx)
    try:
        idx.root.mkdir(parents=True, exist_ok=True)
        _make_lock_file(idx.lock_file)
    except OSError as e:
        raise BuildError(f"cannot write to index directory {idx.root}: {e}") from e
    path = str(idx.lock_file.resolve())
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if path in held:
        yield idx
        return
    with open(path) as f:  # read-only: flock needs no write access (a read-only disk fails later)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise BuildError(
                f"another build or sync is running on {idx.root} (lock {idx.lock_file})"
            ) from e
        held.add(path)
        try:
            yield idx
        finally:
            held.discard(path)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
