"""Downloading NLM files into a mirror directory: resumable, verified, never half-placed.

A file is fetched to ``DIR/<baseline|updatefiles>/.NAME.part``: a partial file left by a
dropped connection or a killed sync is resumed with an HTTP range request (a server that
ignores the range sends it all again). The whole file's MD5 must equal NLM's ``.md5``; then
it is fsync'd and renamed to ``NAME``, and the ``.md5`` is saved beside it as ``NAME.md5``
(what tells the next sync that the file is complete). A mismatch discards the partial file
and downloads it once more from the start; a second mismatch leaves nothing under ``NAME``
and reports the file as failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer import durable
from indexer.build.ledger import file_md5, md5_of
from indexer.sync.http import SyncError, Truncated, get_text, open_url, retrying
from indexer.sync.listing import RemoteFile, parse_md5

log = logging.getLogger(__name__)

BLOCK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


@dataclass
class Fetched:
    """One remote file's outcome: ``path`` when it is complete in the mirror."""

    remote: RemoteFile
    path: Path | None
    md5: str | None = None
    downloaded: int = 0  # bytes transferred by this sync
    error: str | None = None


def local_path(mirror: Path, remote: RemoteFile) -> Path:
    return mirror / remote.dirname / remote.name


def is_complete(path: Path) -> bool:
    """A mirror file a sync placed: it has its verified ``.md5`` beside it."""
    return path.is_file() and path.with_name(path.name + ".md5").is_file()


class Downloader:
    """Fetches remote files into ``mirror``; ``fetch`` is safe from several threads."""

    def __init__(
        self,
        mirror: Path,
        retries: int = 5,
        backoff: float = 1.0,
        timeout: float = 60.0,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.mirror = mirror
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._progress = progress or (lambda n: None)
        self._lock = threading.Lock()

    def fetch(self, remote: RemoteFile) -> Fetched:
        final = local_path(self.mirror, remote)
        if is_complete(final):
            return Fetched(remote, final, _saved_md5(final))
        try:
            md5_text = get_text(remote.md5_url, self.retries, self.backoff, self.timeout)
            expected = parse_md5(md5_text, remote.name)
            final.parent.mkdir(parents=True, exist_ok=True)
            part = final.with_name(f".{remote.name}.part")
            transferred = 0
            for attempt in (1, 2):
                moved, got = self._download(remote.url, part)
                transferred += moved
                if got == expected:
                    durable.fsync_file(part)
                    os.replace(part, final)
                    durable.write_text(final.with_name(final.name + ".md5"), md5_text)
                    durable.fsync_dir(final.parent)
                    return Fetched(remote, final, got, transferred)
                part.unlink(missing_ok=True)
                log.warning(
                    "%s: MD5 %s, expected %s (attempt %d): discarded",
                    remote.name,
                    got,
                    expected,
                    attempt,
                )
            return Fetched(
                remote,
                None,
                None,
                transferred,
                f"MD5 mismatch twice (expected {expected}); not kept",
            )
        except SyncError as e:
            return Fetched(remote, None, error=str(e))

    def _download(self, url: str, part: Path) -> tuple[int, str]:
        """Complete ``part`` from ``url`` (resuming it); (bytes transferred, its MD5)."""
        moved = [0]
        digest = [""]

        def attempt() -> None:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                response = open_url(url, headers, self.timeout)
            except urllib.error.HTTPError as e:
                if e.code == 416 and have:  # nothing after `have`: the MD5 check decides
                    digest[0] = file_md5(part)
                    return
                raise
            with response:
                start = 0
                if response.status == 206:
                    m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                    start = int(m.group(1)) if m else -1
                    if start != have:
                        raise Truncated(f"asked for bytes {have}-, got a range from {start}")
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                md5 = md5_of(part) if start else hashlib.md5(usedforsecurity=False)
                written = 0
                with part.open("ab" if start else "wb") as f:
                    while chunk := response.read(BLOCK):
                        f.write(chunk)
                        md5.update(chunk)
                        written += len(chunk)
                        moved[0] += len(chunk)
                        self._progress(len(chunk))
                if expected is not None and written < expected:
                    raise Truncated(f"connection closed after {written} of {expected} bytes")
                digest[0] = md5.hexdigest()

        retrying(url, attempt, self.retries, self.backoff)
        return moved[0], digest[0]


def _saved_md5(path: Path) -> str | None:
    try:
        return parse_md5(path.with_name(path.name + ".md5").read_text(), path.name)
    except (OSError, SyncError):
        return None
