"""``sync``: mirror NLM's baseline and update files, then apply the new ones to an index.

1. List ``baseline/`` and ``updatefiles/`` (unless ``baseline_only`` / ``updates_only``),
   keep files numbered ``from_number`` or later, and download the missing ones, ``jobs`` at a
   time (:mod:`indexer.sync.download`).
2. With an index: the mirror's complete files are applied in NLM's order, each once, by the
   product's own :func:`~indexer.build.build` (its ledger records them, so a file applied
   before is never applied again):

   - a baseline newer than the one in the index's ledger (NLM's annual re-issue), or the
     first baseline of an index that has none: its files, then that year's updates, in one
     build; over an older baseline that build *replaces* the collection
     (``BuildSettings.replace``): articles NLM dropped are deleted, unchanged ones keep their
     vectors, and the old version serves until the new one is published;
   - otherwise the update files of the ledger's year that it does not hold yet.

   Files after one that failed to download are not applied (order matters); an incomplete
   new baseline is not applied at all.

The mirror is locked (``DIR/.sync.lock``) and so is the index, for the whole sync
(:func:`~indexer.build.index_lock`): a second sync of either is refused at once.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from indexer.build import BuildSettings, BuildSummary, build, index_lock
from indexer.build.ledger import entries, nlm_key
from indexer.manifest import IndexDir
from indexer.sync.download import Downloader, Fetched, is_complete
from indexer.sync.http import SyncError, get_text
from indexer.sync.listing import DIRS, RemoteFile, base_url, parse_index

log = logging.getLogger(__name__)


@dataclass
class SyncSettings:
    mirror: Path
    index: Path | None = None
    baseline: bool = True
    updates: bool = True
    from_number: int | None = None
    jobs: int = 3
    url: str | None = None  # default: PUBMED_SEARCH_NLM_URL, else NLM's
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 60.0
    show_progress: bool = True
    build: BuildSettings = field(default_factory=BuildSettings)


@dataclass
class SyncReport:
    listed: int = 0
    downloaded: list[str] = field(default_factory=list)
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    applied: list[str] = field(default_factory=list)
    replaced: bool = False
    build: BuildSummary | None = None

    def line(self) -> str:
        rate = self.bytes / 1e6 / self.seconds if self.seconds else 0.0
        text = (
            f"listed {self.listed} files, downloaded {len(self.downloaded)} "
            f"({self.bytes / 1e6:.1f} MB, {rate:.1f} MB/s) in {self.seconds:.1f}s"
        )
        if self.failed:
            text += f"; {len(self.failed)} FAILED: " + ", ".join(
                f"{name} ({why})" for name, why in self.failed
            )
        if self.build is not None:
            how = "replaced the collection with a new baseline, " if self.replaced else ""
            text += f"; applied {len(self.applied)} files: {how}{self.build.line()}"
        return text


def sync(settings: SyncSettings) -> SyncReport:
    """Mirror, then apply (module docstring); failures are in the report, not raised."""
    if settings.jobs < 1:
        raise SyncError("--jobs: must be at least 1")
    started = time.monotonic()
    report = SyncReport()
    with ExitStack() as stack:
        stack.enter_context(_mirror_lock(settings.mirror))
        if settings.index is not None:
            stack.enter_context(index_lock(settings.index))
        remote = list_remote(settings)
        report.listed = len(remote)
        failed_baseline: set[str] = set()
        for got in _download_all(settings, remote):
            if got.error:
                report.failed.append((got.remote.name, got.error))
                if got.remote.kind == "baseline":
                    failed_baseline.add(got.remote.name)
            elif got.downloaded:
                report.downloaded.append(got.remote.name)
                report.bytes += got.downloaded
        report.seconds = time.monotonic() - started
        if settings.index is not None:
            _apply(settings, report, failed_baseline)
    return report


def list_remote(settings: SyncSettings) -> list[RemoteFile]:
    base = base_url(settings.url)
    kinds = [k for k, on in (("baseline", settings.baseline), ("update", settings.updates)) if on]
    files: list[RemoteFile] = []
    for kind in kinds:
        page = base + DIRS[kind] + "/"
        files += parse_index(get_text(page, settings.retries, settings.backoff), page, kind)
    if settings.from_number is not None:
        files = [f for f in files if f.key[1] >= settings.from_number]
    return files


def _download_all(settings: SyncSettings, remote: Sequence[RemoteFile]) -> list[Fetched]:
    bar = tqdm(
        total=None,
        unit="B",
        unit_scale=True,
        desc=f"files 0/{len(remote)}",
        disable=not settings.show_progress,
    )
    downloader = Downloader(
        settings.mirror, settings.retries, settings.backoff, settings.timeout, bar.update
    )
    done = 0
    results: list[Fetched] = []
    try:
        with ThreadPoolExecutor(settings.jobs) as pool:
            for got in pool.map(downloader.fetch, remote):
                done += 1
                bar.set_description(f"files {done}/{len(remote)}")
                results.append(got)
    finally:
        bar.close()
    return results


def _apply(settings: SyncSettings, report: SyncReport, failed_baseline: set[str]) -> None:
    assert settings.index is not None
    idx = IndexDir(settings.index)
    version = idx.current_version()
    ledger = idx.read_manifest(version).ledger if version is not None else []
    done = {e.name for e in entries(ledger)}
    years = [(nlm_key(e.name) or (0, 0))[0] for e in entries(ledger) if e.kind == "baseline"]
    held = max(years, default=None)
    failed = {name for name, _ in report.failed}
    local = _mirror_files(settings.mirror)
    baselines = sorted({f.key[0] for f in local if f.kind == "baseline"})
    newest = baselines[-1] if baselines else None
    replacing = False
    if settings.baseline and newest is not None and (held is None or newest > held):
        year = newest
        missing = sorted(n for n in failed_baseline if (nlm_key(n) or (0, 0))[0] == year)
        if missing:
            raise SyncError(
                f"the 20{year:02d} baseline is incomplete ({', '.join(missing)} failed to "
                "download): nothing was applied; run sync again"
            )
        replacing = held is not None
    else:
        year = held if held is not None else max((f.key[0] for f in local), default=None)
    if year is None:
        return
    gaps = [k for k in map(nlm_key, failed) if k is not None and k[0] == year]
    stop = min(gaps, default=(year, 10_000))  # nothing after a file that failed: order matters
    pending = [
        f.path
        for f in sorted((f for f in local if f.key[0] == year), key=lambda f: f.key)
        if f.key < stop and (replacing or f.path.name not in done)
    ]
    if not pending:
        return
    build_settings = replace(settings.build, replace=replacing)
    report.build = build(settings.index, pending, build_settings)
    report.applied = [p.name for p in pending]
    report.replaced = replacing


@dataclass(frozen=True)
class _Local:
    path: Path
    kind: str

    @property
    def key(self) -> tuple[int, int]:
        key = nlm_key(self.path.name)
        assert key is not None
        return key


def _mirror_files(mirror: Path) -> list[_Local]:
    """The mirror's complete NLM files (verified by a sync), both kinds."""
    out = []
    for kind, dirname in DIRS.items():
        folder = mirror / dirname
        if folder.is_dir():
            for p in folder.iterdir():
                if nlm_key(p.name) and p.name.endswith(".xml.gz") and is_complete(p):
                    out.append(_Local(p, kind))
    return out


@contextmanager
def _mirror_lock(mirror: Path) -> Iterator[None]:
    try:
        mirror.mkdir(parents=True, exist_ok=True)
        handle = (mirror / ".sync.lock").open("a+")
    except OSError as e:
        raise SyncError(f"cannot write to the mirror {mirror}: {e}") from e
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise SyncError(f"another sync is running on the mirror {mirror}") from e
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
