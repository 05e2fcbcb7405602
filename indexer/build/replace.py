"""Replacing builds (``BuildSettings.replace``): the inputs are the whole collection.

NLM re-issues all of PubMed every year as a new baseline; citations it dropped are simply not
in it (no DeleteCitation). A replacing build applies the inputs as any build does (unchanged
articles keep their rows and vectors, revised ones are replaced), records the PMIDs each
input file held (``.build/pmids/``, one file per input, written when the file is done, so a
resumed build has them), and then deletes every article visible at the staging version whose
PMID no input held. The old version keeps serving until the new one is published.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from indexer import durable
from indexer.records import Article, Deletion
from indexer.store.metadata import ApplyResult, Store

log = logging.getLogger(__name__)

PMIDS_DIR = "pmids"
_DELETE_BATCH = 5000


def pmids_file(build_dir: Path, key: str) -> Path:
    """Where the PMIDs of the input identified by ``key`` (checkpoint.file_key) are kept."""
    name = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()
    return build_dir / PMIDS_DIR / f"{name}.npy"


def save_pmids(path: Path, pmids: Iterable[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.unique(np.fromiter(pmids, dtype=np.int64)))
    durable.write_bytes(path, buffer.getvalue())


def article_pmids(batch: Iterable[object]) -> list[int]:
    return [r.pmid for r in batch if isinstance(r, Article)]


def sweep(store: Store, files: Iterable[Path], staging: int) -> ApplyResult:
    """Delete at ``staging`` each visible article whose PMID none of the ``files`` holds."""
    arrays = [np.load(f) for f in files]
    present = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.int64)
    gone = np.setdiff1d(store.visible_pmids(staging), present, assume_unique=True)
    log.info("replacing build: %d articles are in no input and are deleted", gone.size)
    result = ApplyResult()
    for start in range(0, gone.size, _DELETE_BATCH):
        chunk = gone[start : start + _DELETE_BATCH]
        result = result + store.apply([Deletion(int(p)) for p in chunk], staging)
    return result
