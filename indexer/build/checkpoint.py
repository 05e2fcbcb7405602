"""Checkpoints of a build in progress, in ``DIR/.build/``: the ingest and encode steps.

- *Ingest* (:func:`ingest`): each input file is streamed into the store in batches at the
  staging version. After each committed batch :class:`BuildState` (``.build/state.json``)
  records how many records of that file are done, so a re-run skips them (re-applying is
  idempotent anyway).
- *Encode* (:func:`encode_chunks`): rows added at the staging version are embedded in chunks
  ordered by doc id; each chunk is one ``.build/chunks/chunk-<first>-<last>.npz`` file
  (:func:`write_chunk`: a temporary name, fsync'd, renamed), so a re-run continues after the
  last finished chunk (:func:`chunks_progress`).

Ownership: the build only deletes a ``.build/`` it can prove it made: one holding
:data:`MARKER` (written when the build creates the directory) or, from builds before the
marker, a ``state.json`` that loads as a :class:`BuildState`. Any other ``.build/`` is a
user's: the build refuses to run (:class:`NotAnIndexDirectory`) rather than delete it.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer import durable
from indexer.build.errors import NotAnIndexDirectory
from indexer.build.replace import article_pmids, save_pmids
from indexer.build.settings import BuildSettings
from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.models.encoder import Encoder
from indexer.store.metadata import ApplyResult, Store

log = logging.getLogger(__name__)

MARKER = "pubmed-search-build"  # in .build/: this directory is a build checkpoint of ours
MARKER_TEXT = "a pubmed-search build in progress; removed by the build once it publishes\n"


@dataclass
class BuildState:
    """What a build in progress has finished; lives in ``.build/state.json``."""

    staging: int
    fingerprint: str
    files_done: dict[str, int] = field(default_factory=dict)  # file key -> records applied
    files_complete: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    files_failed: dict[str, list[str]] = field(default_factory=dict)  # key -> [path, reason]
    controls_dropped: int = 0

    def save(self, path: Path) -> None:
        durable.write_text(path, json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> BuildState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None


def owns(build_dir: Path) -> bool:
    """Whether ``build_dir`` is a checkpoint directory a build of ours made (module docstring)."""
    if (build_dir / MARKER).is_file():
        return True
    legacy = BuildState.load(build_dir / "state.json")  # written before the marker existed
    if legacy is not None:
        durable.write_text(build_dir / MARKER, MARKER_TEXT)
        return True
    return False


def check_owned(build_dir: Path) -> None:
    """Refuse (:class:`NotAnIndexDirectory`) a ``build_dir`` that exists and is not ours."""
    if (build_dir.exists() or build_dir.is_symlink()) and not (
        build_dir.is_dir() and not build_dir.is_symlink() and owns(build_dir)
    ):
        raise NotAnIndexDirectory(
            build_dir.parent,
            f"{build_dir} exists and is not a build checkpoint of pubmed-search "
            f"(no {MARKER} file in it); move it away if it is yours",
        )


def remove_build_dir(build_dir: Path) -> None:
    """Delete ``build_dir`` if it is ours; leave anything else alone (logged)."""
    if not build_dir.exists():
        return
    if build_dir.is_dir() and not build_dir.is_symlink() and owns(build_dir):
        shutil.rmtree(build_dir, ignore_errors=True)
    else:
        log.warning("not deleting %s: it is not a build checkpoint of pubmed-search", build_dir)


def make_build_dir(build_dir: Path) -> None:
    """Create ``build_dir`` with :data:`MARKER` in it (the proof that it is ours)."""
    build_dir.mkdir(parents=True)
    durable.write_text(build_dir / MARKER, MARKER_TEXT)
    durable.fsync_dir(build_dir.parent)


def open_state(build_dir: Path, staging: int, fingerprint: str) -> tuple[BuildState, Path]:
    """(state, its path) of this build: resumed if ``fingerprint`` matches the checkpoint's,
    else a fresh state in an emptied ``build_dir`` (an unfinished build of other settings).

    A ``build_dir`` that is not ours is never emptied: :class:`NotAnIndexDirectory`."""
    check_owned(build_dir)
    state_path = build_dir / "state.json"
    state = BuildState.load(state_path)
    if state is None or state.fingerprint != fingerprint:
        if build_dir.exists():
            log.warning("discarding an unfinished build of other settings in %s", build_dir)
            shutil.rmtree(build_dir)
        make_build_dir(build_dir)
        state = BuildState(staging=staging, fingerprint=fingerprint)
        state.save(state_path)
    return state, state_path


def file_key(path: Path) -> str:
    """Identifies an input file's content for resuming: resolved path, size, mtime."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _batches(records: Iterator, size: int) -> Iterator[list]:
    batch: list = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _until_error(records: Iterator, failure: list[SourceError]) -> Iterator:
    """``records`` up to a :class:`SourceError`, which is put in ``failure`` (ending the
    stream: the records before it are kept, including those of a batch not yet full)."""
    try:
        yield from records
    except SourceError as e:
        failure.append(e)


def ingest(
    store: Store,
    inputs: Sequence[Path],
    state: BuildState,
    state_path: Path,
    batch_size: int,
    reader: Callable[[Path, SourceStats], Iterator] = iter_records,
    strict: bool = False,
    pmids_of: Callable[[str], Path] | None = None,
) -> SourceStats:
    """Apply the records of ``inputs`` at ``state.staging``, skipping those a checkpoint holds.

    A file that breaks off is recorded in ``state.files_failed`` (module docstring); with
    ``strict`` its :class:`SourceError` is raised instead. ``pmids_of(file key)``: where to
    save the PMIDs of each file's articles once it is done (a replacing build's sweep)."""
    total = SourceStats()
    for path in inputs:
        key = file_key(path)
        if key in state.files_complete:
            if strict and key in state.files_failed:  # recorded by a resumed non-strict run
                raise SourceError(path, state.files_failed[key][1])
            continue
        done = state.files_done.get(key, 0)
        log.info("ingesting %s (resuming after %d records)", path, done)
        stats = SourceStats()
        failure: list[SourceError] = []
        try:
            records = reader(path, stats)
        except SourceError as e:  # e.g. an unknown file type
            if strict:
                raise
            records, failure = iter(()), [e]
        if not strict:
            records = _until_error(records, failure)
        seen = 0
        pmids: list[int] = []
        for batch in _batches(records, batch_size):
            seen += len(batch)
            if pmids_of is not None:
                pmids.extend(article_pmids(batch))
            if seen <= done:
                continue
            if seen - len(batch) < done:  # part of this batch was applied before the kill
                batch = batch[done - (seen - len(batch)) :]
            result: ApplyResult = store.apply(batch, state.staging)
            for k, v in asdict(result).items():
                state.applied[k] = state.applied.get(k, 0) + v
            state.files_done[key] = seen
            state.save(state_path)
        if failure:
            reason = getattr(failure[0], "reason", None) or str(failure[0])
            log.warning(
                "%s: %s; kept the %d records read before the fault, going on with the next file",
                path,
                reason,
                seen,
            )
            state.files_failed[key] = [str(path), reason]
        if pmids_of is not None:
            save_pmids(pmids_of(key), pmids)
        state.files_complete.append(key)
        state.skipped += stats.skipped
        state.controls_dropped += stats.controls_dropped
        state.save(state_path)
        total.skipped += stats.skipped
        total.controls_dropped += stats.controls_dropped
    return total


def failed_files(state: BuildState, inputs: Sequence[Path]) -> list[tuple[str, str]]:
    """(path, reason) of each of ``inputs`` that broke off, in input order."""
    keys = [file_key(p) for p in inputs]
    return [
        (state.files_failed[k][0], state.files_failed[k][1])
        for k in keys
        if k in state.files_failed
    ]


def chunk_files(chunks_dir: Path) -> list[Path]:
    """The finished chunk files, in doc-id order."""
    return sorted(chunks_dir.glob("chunk-*.npz"))


def chunks_progress(chunks_dir: Path) -> tuple[int, int]:
    """(last doc id encoded, or 0; how many vectors) of the finished chunks."""
    existing = chunk_files(chunks_dir)
    after = int(np.load(existing[-1])["ids"][-1]) if existing else 0
    return after, sum(len(np.load(p)["ids"]) for p in existing)


def write_chunk(chunks_dir: Path, ids: np.ndarray, vectors: np.ndarray) -> None:
    """Write one chunk atomically and durably (``indexer.durable``)."""
    name = f"chunk-{int(ids[0]):012d}-{int(ids[-1]):012d}.npz"
    with durable.replacing(chunks_dir / name) as tmp:
        np.savez(tmp, ids=ids, vectors=vectors.astype(np.float32))


def encode_chunks(
    store: Store, encoder: Encoder, staging: int, chunks_dir: Path, settings: BuildSettings
) -> int:
    """Embed the rows added at ``staging`` after the last chunk; returns all vectors encoded."""
    chunks_dir.mkdir(parents=True, exist_ok=True)
    after, done_before = chunks_progress(chunks_dir)
    todo = store.count_to_embed(staging, after)
    bar = None
    if settings.show_progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=todo, unit="doc", desc="embedding", dynamic_ncols=True)
    embedded = 0
    try:
        while True:
            rows = store.to_embed(staging, after, settings.chunk_size)
            if not rows:
                break
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = encoder.encode([r[1] for r in rows], on_batch=bar.update if bar else None)
            write_chunk(chunks_dir, ids, vecs)
            after = int(ids[-1])
            embedded += len(ids)
    finally:
        if bar is not None:
            bar.close()
    return embedded + done_before


def load_chunks(chunks_dir: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float32 vectors) of all finished chunks, in doc-id order."""
    files = chunk_files(chunks_dir)
    if not files:
        return np.empty(0, dtype=np.int64), np.empty((0, dim), dtype=np.float32)
    parts = [np.load(p) for p in files]
    return (
        np.concatenate([p["ids"] for p in parts]),
        np.concatenate([p["vectors"] for p in parts]),
    )
