"""Lexical search speed: the product's Tantivy index against Tantivy itself and FTS5.

    make bench-lexical                                         # --sizes 100000,1000000
    .venv/bin/python bench/lexical.py --sizes 20000 --topic 100    # quick, while developing

Collections: articles resampled from the real PubMed files (bench/_resample.py: real titles,
real abstract sentences, real records' metadata; new PMIDs), built once per size with the
product's writer (``indexer.lexical.stage`` then ``write``, as ``indexer.build.lexical`` does,
default analysis, default writer threads) into ``<cache>/lexical-bench/n<N>/lexical`` and
reused by later runs (``--rebuild`` redoes them). Build wall and CPU time are recorded, with
the time spent resampling the articles measured apart (it is not the product's).

Queries: ``topic`` = 1-3 word MeSH descriptor names and title n-grams of the real files;
``question`` = the 286 PubMedQA dev questions (../shared/data/pubmedqa/dev_queries.jsonl).
Each with no filter and with a ~4% filter (:data:`FILTER`; its measured selectivity is
reported).

Timed, one thread, k = 10, one query at a time, warm (every query runs once first), the
systems interleaved query by query (their order rotating) so that the machine's load drifts
over all of them alike, ``--rounds`` timed passes pooled (FTS5: one):

- ``product``: ``LexicalIndex.search(text, 10, filters)``: query analysis, the Tantivy query,
  top 10 with the total count, doc ids from the fast field, ordering;
- ``tantivy``: the floor, Tantivy queried directly on the same index: the same terms
  (analysed outside the timer) as a hand-built boolean query of boosted title and abstract
  term queries (and constant-score filter clauses), ``searcher.search(q, 10)`` with its
  defaults (top 10 and the count); ``overhead`` = product / tantivy (of the p50s, of the
  p99s, and the median of the per-query ratios);
- ``tantivy top-10``: the same without the count (``count=False``: block-max WAND may skip
  documents, which counting every match forbids);
- ``fts5``: on the 100k collection only, a bench-local SQLite FTS5 table (porter
  unicode61, ``bm25(2.0, 1.0)``, the previous implementation's tokenizer and query terms)
  ranking every match exhaustively (``ORDER BY bm25 LIMIT 10`` with the match count), i.e.
  the previous implementation's exact ranking cost;
- ``question, every word``: Tantivy direct with the stop words kept (the issue's 34 ms);
- facets: ``indexer.lexical.facets.facet_counts`` over each query's whole match set.

Also: bytes per article of the lexical index directory, and a linear projection of size and
build time to 36M articles (a projection, not a measurement).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import tantivy  # noqa: E402

from bench._resample import Resampler, load_pool, question_queries  # noqa: E402
from bench._stats import percentile  # noqa: E402
from indexer.filters import MAX_QUERY_CHARS, Filters  # noqa: E402
from indexer.lexical import DEFAULT_ANALYSIS, LexicalIndex, stage, write  # noqa: E402
from indexer.lexical.facets import facet_counts  # noqa: E402
from indexer.lexical.schema import mesh_key  # noqa: E402
from indexer.lexical.writer import CHUNK  # noqa: E402
from indexer.samples import default_cache_dir  # noqa: E402
from indexer.text import STOP_WORDS, distinct  # noqa: E402
from indexer.text import words as text_words  # noqa: E402

FORMAT = 1
FILTER = Filters(mesh="Time Factors")
"""~4% of the resampled articles (the real records' share); measured and reported per run."""
FILTER_NAME = "mesh=Time Factors"
PROJECT_TO = 36_000_000
FTS5_MAX_N = 100_000
Occur = tantivy.Occur
# The previous implementation's FTS5 table, rebuilt bench-locally (the product has no FTS5).
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
FTS_RANK = "bm25(2.0, 1.0)"
FTS_MAX_TOKENS = 32


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "lock" not in p.name)


# building ----------------------------------------------------------------------------------
def build_collection(root: Path, n: int, seed: int, pool, rebuild: bool) -> dict:
    """Write (once) the product's lexical index of ``n`` resampled articles in ``root``."""
    marker = root / "bench.json"
    want = {
        "format": FORMAT,
        "n": n,
        "seed": seed,
        "analysis": DEFAULT_ANALYSIS.to_dict(),
        "tantivy": tantivy.__version__ if hasattr(tantivy, "__version__") else "0.27",
        "pool": pool.describe(),
    }
    if marker.exists() and not rebuild:
        info = json.loads(marker.read_text())
        if {k: info.get(k) for k in want} == want:
            log(f"n={n:,}: reusing the cached collection in {root}")
            return info
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    res = Resampler(pool, seed)
    gen = {"wall": 0.0, "cpu": 0.0}

    def rows(after: int, limit: int) -> list:
        if after >= n:
            return []
        t, c = time.perf_counter(), time.process_time()
        arts = res.articles(after, min(n, after + limit))
        gen["wall"] += time.perf_counter() - t
        gen["cpu"] += time.process_time() - c
        return [(after + i + 1, a) for i, a in enumerate(arts)]

    def progress(k: int) -> None:
        done[0] += k
        log(f"n={n:,}: indexed {done[0]:,} ({time.perf_counter() - t0:,.0f}s)")

    done = [0]
    work = root / "lexical"
    t0, c0 = time.perf_counter(), time.process_time()
    stage(None, work, DEFAULT_ANALYSIS)
    added = write(work, DEFAULT_ANALYSIS, [], 1, rows, progress=progress if n > CHUNK else None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if added != n:
        raise SystemExit(f"expected {n} documents, the writer added {added}")
    size = dir_bytes(work)
    info = {
        **want,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_wall_s": round(wall, 1),
        "build_cpu_s": round(cpu, 1),
        "resample_wall_s": round(gen["wall"], 1),
        "resample_cpu_s": round(gen["cpu"], 1),
        "index_wall_s": round(wall - gen["wall"], 1),
        "index_cpu_s": round(cpu - gen["cpu"], 1),
        "load_at_build": os.getloadavg(),
        "bytes": size,
        "bytes_per_article": round(size / n, 1),
    }
    marker.write_text(json.dumps(info, indent=2))
    log(
        f"n={n:,}: built in {wall:,.0f}s wall / {cpu:,.0f}s CPU (of which resampling "
        f"{gen['wall']:,.0f}s); {size / n:,.0f} bytes per article"
    )
    return info


def build_fts5(root: Path, n: int, seed: int, pool) -> Path:
    """A bench-local SQLite FTS5 table of the same articles (what the previous index did)."""
    path = root / "fts5.sqlite"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(
        f"""
        CREATE VIRTUAL TABLE fts USING fts5(title, abstract, tokenize='{FTS_TOKENIZER}');
        INSERT INTO fts(fts, rank) VALUES ('rank', '{FTS_RANK}');
        CREATE TABLE mesh (name_lower TEXT NOT NULL, doc_id INTEGER NOT NULL);
        """
    )
    t0 = time.perf_counter()
    res = Resampler(pool, seed)
    for start in range(0, n, 10_000):
        arts = res.articles(start, min(n, start + 10_000))
        ids = range(start + 1, start + 1 + len(arts))
        db.executemany(
            "INSERT INTO fts(rowid, title, abstract) VALUES (?, ?, ?)",
            [(d, a.title, a.abstract) for d, a in zip(ids, arts, strict=True)],
        )
        db.executemany(
            "INSERT INTO mesh VALUES (?, ?)",
            [(m.name.strip().lower(), d) for d, a in zip(ids, arts, strict=True) for m in a.mesh],
        )
    db.execute("CREATE INDEX ix_mesh ON mesh(name_lower, doc_id)")
    db.commit()
    db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
    db.commit()
    db.close()
    tmp.replace(path)
    log(f"n={n:,}: FTS5 table built in {time.perf_counter() - t0:,.0f}s")
    return path


# queries -----------------------------------------------------------------------------------
def direct_query(schema: tantivy.Schema, terms: list[str], f: Filters | None) -> tantivy.Query:
    """By hand: what a user of Tantivy would write for these terms and this filter."""
    Q = tantivy.Query
    clauses = []
    for t in terms:
        title = Q.term_query(schema, "title", t, index_option="freq")
        clauses.append((Occur.Should, Q.boost_query(title, DEFAULT_ANALYSIS.title_boost)))
        clauses.append((Occur.Should, Q.term_query(schema, "abstract", t, index_option="freq")))
    q = Q.boolean_query(clauses)
    if f is None:
        return q
    m = Q.term_query(schema, "mesh", mesh_key(f.mesh), index_option="basic")
    return Q.boolean_query([(Occur.Must, q), (Occur.Must, Q.const_score_query(m, 0.0))])


def direct(
    lex: LexicalIndex, terms: dict[str, list[str]], f: Filters | None, count: bool
) -> Callable[[str], object]:
    """Tantivy direct: the hand-built query of a text's (pre-analysed) terms, top 10."""
    searcher, schema = lex.searcher, lex.schema

    def run(text: str) -> object:
        return searcher.search(direct_query(schema, terms[text], f), 10, count=count)

    return run


def every_word_terms(text: str) -> list[str]:
    """Every word of ``text`` (stop words kept), analysed like the index text."""
    from indexer.lexical.analysis import normalise, words

    return distinct([normalise(w) for w in words(text)])


def query_tokens(query: str) -> list[str]:
    """The previous FTS5 query's tokens: distinct words without stop words (or all of them)."""
    words = distinct(text_words(query[:MAX_QUERY_CHARS]))
    content = [w for w in words if w not in STOP_WORDS]
    return (content or words)[:FTS_MAX_TOKENS]


def fts5_phrase(token: str) -> str:
    """An FTS5 string literal: the token is matched as text, never as syntax."""
    return '"' + token.replace('"', '""') + '"'


def fts5_runner(db: sqlite3.Connection, f: Filters | None) -> Callable[[str], object]:
    cond = "" if f is None else "AND +rowid IN (SELECT doc_id FROM mesh WHERE name_lower = ?)"
    # "+rowid": the filter checks each match; a bare rowid IN makes FTS5 look every listed
    # rowid up and runs ~40x slower. The rank column is bm25(2.0, 1.0), as it was.
    sql = (
        f"SELECT rowid, -rank, count(*) OVER () FROM fts WHERE fts MATCH ? {cond} "
        "ORDER BY rank, rowid LIMIT 10"
    )

    def run(match: str) -> object:
        args = (match,) if f is None else (match, f.mesh.lower())
        return db.execute(sql, args).fetchall()

    return run


def timed(fn: Callable, items: list, warm: int | None = None) -> list[float]:
    """Milliseconds of ``fn(item)`` for every item, after a warm pass (all items, or
    the first ``warm``)."""
    for it in items if warm is None else items[:warm]:
        fn(it)
    gc.collect()
    gc.disable()
    out = []
    try:
        for it in items:
            t0 = time.perf_counter()
            fn(it)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        gc.enable()
    return out


def timed_together(
    runners: dict[str, Callable], items: list, rounds: int, once: tuple[str, ...] = ()
) -> dict[str, list[float]]:
    """Milliseconds of every runner on every item, interleaved: for each item each runner runs
    in turn (the order rotating from item to item), so the machine's load drifts over all of
    them alike. First a warm pass, then ``rounds`` timed passes. Runners in ``once`` (the slow
    FTS5 baseline) are warmed on the first 20 items and timed in one pass of their own after
    the others: interleaved, their large scans would evict the caches of whichever runner
    came next."""
    fast = [name for name in runners if name not in once]
    slow = [name for name in runners if name in once]
    for name in fast:
        for it in items:
            runners[name](it)
    out: dict[str, list[float]] = {name: [] for name in runners}
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            for i, it in enumerate(items):
                k = (i + r) % len(fast)
                for name in fast[k:] + fast[:k]:
                    t0 = time.perf_counter()
                    runners[name](it)
                    out[name].append((time.perf_counter() - t0) * 1000)
        for name in slow:
            for it in items[:20]:
                runners[name](it)
            for it in items:
                t0 = time.perf_counter()
                runners[name](it)
                out[name].append((time.perf_counter() - t0) * 1000)
    finally:
        gc.enable()
    return out


def stats(ms: list[float]) -> dict:
    return {"p50": round(percentile(ms, 50), 3), "p99": round(percentile(ms, 99), 3), "n": len(ms)}


def check_same(lex: LexicalIndex, texts: list[str], f: Filters | None) -> int:
    """Queries whose product top 10 differs from the direct query's (ids or scores)."""
    bad = 0
    for t in texts:
        terms = lex.query_terms(t)
        if not terms:
            continue
        mine, total = lex.search(t, 10, filters=f)
        res = lex.searcher.search(direct_query(lex.schema, terms, f), 10)
        ids = lex.searcher.fast_field_values("doc_id", [h[1] for h in res.hits])
        theirs = sorted(
            ((int(d), round(float(h[0]), 4)) for d, h in zip(ids, res.hits, strict=True)),
            key=lambda x: (-x[1], x[0]),
        )
        mine = [(d, round(s, 4)) for d, s in mine]
        bad += mine != theirs or total != res.count
    return bad


def bench_size(n: int, args: argparse.Namespace, cache: Path, pool, queries: dict) -> dict:
    root = cache / "lexical-bench" / f"n{n}-seed{args.seed}"
    info = build_collection(root, n, args.seed, pool, args.rebuild)
    lex = LexicalIndex(root / "lexical", DEFAULT_ANALYSIS)
    searcher = lex.searcher
    selected = lex.count(lex.filtered(None, FILTER))
    res: dict = {
        "n": n,
        "build": info,
        "filter": {"name": FILTER_NAME, "matches": selected, "selectivity": selected / n},
        "latency_ms": {},
        "facets_ms": {},
        "mismatches": {},
    }
    log(f"n={n:,}: filter {FILTER_NAME} selects {selected:,} ({100 * selected / n:.2f}%)")
    db = None
    if n <= FTS5_MAX_N and not args.no_fts5:
        db = sqlite3.connect(build_fts5(root, n, args.seed, pool))
    for kind, texts in queries.items():
        terms = {t: lex.query_terms(t) for t in texts}  # the product's terms, variants too
        texts = [t for t in texts if terms[t]]
        matches = {t: " OR ".join(fts5_phrase(x) for x in query_tokens(t)) for t in texts}
        for f in (None, FILTER):
            label = kind + ("" if f is None else " +filter")
            runners = {
                "product": lambda t, f=f: lex.search(t, 10, filters=f),
                "tantivy": direct(lex, terms, f, count=True),
                "tantivy_top10": direct(lex, terms, f, count=False),
            }
            if db is not None:
                run = fts5_runner(db, f)
                runners["fts5"] = lambda t, r=run, m=matches: r(m[t])
            ms = timed_together(runners, texts, args.rounds, once=("fts5",))
            row: dict = {name: stats(v) for name, v in ms.items()}
            row["overhead_p50"] = round(row["product"]["p50"] / row["tantivy"]["p50"], 2)
            row["overhead_p99"] = round(row["product"]["p99"] / row["tantivy"]["p99"], 2)
            ratios = [a / b for a, b in zip(ms["product"], ms["tantivy"], strict=True) if b > 0]
            row["overhead_median_per_query"] = round(percentile(ratios, 50), 2)
            res["latency_ms"][label] = row
            res["mismatches"][label] = check_same(lex, texts[:50], f)
            log(
                f"n={n:,}: {label:16s} product {row['product']['p50']:7.2f}/"
                f"{row['product']['p99']:7.2f}  tantivy {row['tantivy']['p50']:7.2f}/"
                f"{row['tantivy']['p99']:7.2f}  top-10 {row['tantivy_top10']['p50']:7.2f}/"
                f"{row['tantivy_top10']['p99']:7.2f}"
                + (f"  fts5 {row['fts5']['p50']:7.2f}/{row['fts5']['p99']:7.2f}" if db else "")
            )
        if kind == "question":
            every = {t: every_word_terms(t) for t in queries[kind] if every_word_terms(t)}
            ew = list(every)
            runners = {
                "tantivy": direct(lex, every, None, count=True),
                "tantivy_top10": direct(lex, every, None, count=False),
            }
            row = {k: stats(v) for k, v in timed_together(runners, ew, args.rounds).items()}
            res["latency_ms"]["question, every word"] = row
            log(f"n={n:,}: question, every word: {row}")
        sub = texts[: args.facet_queries]
        for f in (None, FILTER):
            label = kind + ("" if f is None else " +filter")
            res["facets_ms"][label] = stats(
                timed(
                    lambda t, f=f: facet_counts(searcher, lex.filtered(lex.text_query(t), f)),
                    sub,
                    warm=10,
                )
            )
            log(f"n={n:,}: facets {label:16s} {res['facets_ms'][label]}")
    if db is not None:
        db.close()
    return res


def projection(r: dict) -> dict:
    b = r["build"]
    scale = PROJECT_TO / r["n"]
    return {
        "from_n": r["n"],
        "articles": PROJECT_TO,
        "bytes": round(b["bytes"] * scale),
        "gb": round(b["bytes"] * scale / 1e9, 1),
        "index_wall_h": round(b["index_wall_s"] * scale / 3600, 2),
        "index_cpu_h": round(b["index_cpu_s"] * scale / 3600, 2),
    }


def machine() -> dict:
    from indexer.models.device import physical_cores

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "physical_cores": physical_cores()}


def report(results: dict) -> None:
    m = results["machine"]
    la0, la1 = results["load_start"], results["load_end"]
    print(
        f"\n### Lexical search, k = 10, one thread — {m['cpu']}, {m['cpus']} CPUs; load average "
        f"{la0[0]:.1f}/{la0[1]:.1f}/{la0[2]:.1f} at start, {la1[0]:.1f}/{la1[1]:.1f}/"
        f"{la1[2]:.1f} at end\n"
    )
    print(
        "| n | queries | product p50 / p99 ms | Tantivy direct p50 / p99 | overhead p50 / p99 "
        "| median per-query overhead | Tantivy top-10 only p50 / p99 | FTS5 exhaustive p50 / p99 |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def pp(v: dict | None) -> str:
        return "—" if v is None else f"{v['p50']:.2f} / {v['p99']:.2f}"

    for r in results["sizes"]:
        for label, row in r["latency_ms"].items():
            over = (
                f"{row['overhead_p50']:.2f}x / {row['overhead_p99']:.2f}x"
                if "overhead_p50" in row
                else "—"
            )
            print(
                f"| {r['n']:,} | {label} | {pp(row.get('product'))} | {pp(row.get('tantivy'))} "
                f"| {over} | {row.get('overhead_median_per_query', '—')} "
                f"| {pp(row.get('tantivy_top10'))} | {pp(row.get('fts5'))} |"
            )
    print("\n| n | facets over the match set | p50 / p99 ms |\n|---|---|---|")
    for r in results["sizes"]:
        for label, v in r["facets_ms"].items():
            print(f"| {r['n']:,} | {label} | {pp(v)} |")
    print(
        "\n| n | filter (selectivity) | build wall / CPU s | of which resampling s "
        "| index wall / CPU s | index bytes | bytes/article |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results["sizes"]:
        b, f = r["build"], r["filter"]
        print(
            f"| {r['n']:,} | {f['name']} ({100 * f['selectivity']:.2f}%) | {b['build_wall_s']:,} "
            f"/ {b['build_cpu_s']:,} | {b['resample_wall_s']:,} | {b['index_wall_s']:,} / "
            f"{b['index_cpu_s']:,} | {b['bytes']:,} | {b['bytes_per_article']:,.0f} |"
        )
    for p in results["projection"]:
        print(
            f"\nProjection (linear, not measured) from {p['from_n']:,} to {p['articles']:,}: "
            f"{p['gb']} GB of lexical index; index build {p['index_wall_h']} h wall / "
            f"{p['index_cpu_h']} h CPU on this machine."
        )
    bad = {(r["n"], k): v for r in results["sizes"] for k, v in r["mismatches"].items() if v}
    print(
        "\nProduct vs direct Tantivy: same top 10 and count on every checked query"
        if not bad
        else f"\nProduct vs direct Tantivy differ (queries): {bad}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="collection sizes, comma-separated")
    p.add_argument("--topic", type=int, default=500, help="topic queries")
    p.add_argument("--facet-queries", type=int, default=100, help="queries per facet case")
    p.add_argument("--rounds", type=int, default=2, help="timed passes over the queries")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help="default: ~/.cache/pubmed-search")
    p.add_argument("--rebuild", action="store_true", help="rebuild cached collections")
    p.add_argument("--no-fts5", action="store_true", help="skip the FTS5 comparison")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args()
    cache = Path(args.cache or default_cache_dir())
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results: dict = {"machine": machine(), "load_start": os.getloadavg(), "sizes": []}
    pool = load_pool(cache)
    results["pool"] = pool.describe()
    queries = {
        "topic": Resampler(pool, args.seed).topic_queries(args.topic),
        "question": question_queries(),
    }
    results["queries"] = {k: len(v) for k, v in queries.items()}
    for n in sizes:
        results["sizes"].append(bench_size(n, args, cache, pool, queries))
    results["load_end"] = os.getloadavg()
    results["projection"] = [projection(r) for r in results["sizes"][-1:]]
    report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
