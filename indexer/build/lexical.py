"""The build's lexical step: the staged version's Tantivy index, beside the published one.

Runs after ingest (the store holds version S) and before encoding: the published version's
lexical files are hard-linked into ``.build/lexical``, the revisions removed at S are
deleted, those added at S are added (``indexer.lexical.writer``: resumable after a kill),
and :func:`place` moves the directory into ``versions/vS/`` just before the version is
published. The published version's own directory is never written.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from indexer import durable
from indexer.lexical import Analysis, stage, write
from indexer.manifest import IndexDir, Manifest
from indexer.store.metadata import Store

log = logging.getLogger(__name__)

WORK_NAME = "lexical"


def work_dir(idx: IndexDir) -> Path:
    return idx.build_dir / WORK_NAME


def index_lexical(
    idx: IndexDir, store: Store, prev: Manifest | None, staging: int, analysis: Analysis
) -> int:
    """Bring ``.build/lexical`` to version ``staging``; returns the documents added."""
    work = work_dir(idx)
    published = idx.lexical_path(prev.version) if prev is not None else None
    stage(published, work, analysis)
    first_new = prev.next_doc_id if prev is not None else 1
    added = write(
        work,
        analysis,
        removed=store.removed_ids(staging).tolist(),
        first_new=first_new,
        rows=lambda after, limit: store.to_index(staging, after, limit),
    )
    log.info("lexical index: %d documents added at version %d", added, staging)
    return added


def place(idx: IndexDir, staging: int) -> None:
    """Move the staged lexical index into version ``staging``'s directory (not yet published)."""
    target = idx.lexical_path(staging)
    if target.exists():  # left by an attempt killed between this move and the publish
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work_dir(idx).rename(target)
    durable.fsync_tree(target)
