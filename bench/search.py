"""Search latency and ANN recall on collections of 100k and 1M resampled articles.

    make bench-search                                  # --sizes 100000,1000000
    .venv/bin/python bench/search.py --sizes 20000 --queries 100     # quick, while developing
    .venv/bin/python bench/search.py --sizes 100000 --calibrate      # exact-vs-selector sweep

Each collection (articles resampled from the real PubMed files, bench/_resample.py: real
titles, real abstract sentences, real records' metadata; vectors from bench/_search_data.py:
clustered unit vectors of dim 768) is written straight through the indexer's APIs
(Store.apply; the lexical index as ``indexer.build.lexical`` writes it, ``stage``/``write``
from ``store.to_index``, placed at ``IndexDir.lexical_path``; VectorFile, VectorIndex with the
``auto`` type for its size, Manifest, publish) into ``<cache>/search-bench/n<N>``, and
reused by later runs. The manifest names a BioLinkBERT-base-shaped model with random
weights (bench/_models.py), so ``SearchEngine.open`` runs exactly as in production.

Queries: ``topic`` = 1-3 word MeSH names and title n-grams of the real files (timed ones and
the warm-up ones are disjoint); ``question`` = the PubMedQA dev questions (warmed by one pass
of the same questions). Query vectors are fresh draws from the collection's distribution.
The previous FTS5 implementation is gone from the product; ``bench/lexical.py`` times an
exhaustive FTS5 ranking of the same texts beside Tantivy.

Timed: ``SearchEngine.search()`` end to end (store, FAISS, fusion, hits, snippets) with the
query vectors pre-embedded (put in the engine's query cache: the vectors are drawn from the
collection's own distribution, as a trained encoder's would be), one query at a time.
Before each case, one pass of as many *other* queries of the same kind warms the page cache
(a server's steady state: the 1M store is 7.4 GB, which a 24 GB machine keeps cached once
read); ``--cold`` skips it. The encoder's forward pass for one query is timed on its own.
``--reindex`` rebuilds only the FAISS side of a cached collection (after a change of the
``auto`` index choice), keeping its store. Baseline: exact search
(numpy, float32, all vectors), what a flat index does. Recall@10: the engine's dense top 10
against the exact top 10, over the same queries.
Targets: dense p50 <= 10 ms with recall@10 >= 0.95 at 1M; hybrid p50 <= 25 ms at 100k and
1M, the encoder's forward pass excluded (lexical targets: bench/lexical.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

# This file is named like the `search` package: the repository root goes before bench/ on
# sys.path, so that `import search` finds the package (bench helpers still import).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))
from _models import biolinkbert_shape_dir
from _search_data import DIM, Collection

from bench._resample import Resampler, load_pool, question_queries
from bench._stats import percentile
from indexer.build.lexical import index_lexical, place
from indexer.filters import Filters
from indexer.lexical import DEFAULT_ANALYSIS
from indexer.manifest import EncoderInfo, IndexDir, Manifest
from indexer.models.device import physical_cores
from indexer.models.encoder import Encoder, EncoderConfig
from indexer.samples import default_cache_dir
from indexer.store import Store
from indexer.vectors import VectorFile, VectorIndex, resolve_factory, train_sample_size

CHUNK = 10_000  # generation unit: rows [i*CHUNK, (i+1)*CHUNK) are seeded by their start
FORMAT = 2  # 2: resampled real texts and a Tantivy lexical index (1: generated words)
FILTERS = {  # shares of the real records the metadata is drawn from
    "broad": Filters(year_from=2000),  # ~41% (the 2019-21 update file's records)
    "narrow": Filters(mesh="Time Factors"),  # ~4%
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def model_info(cache: Path) -> tuple[str, str]:
    """(directory, fingerprint) of the BioLinkBERT-shaped random model, fingerprint cached."""
    model_dir = biolinkbert_shape_dir(cache)
    fp_file = model_dir / ".fingerprint"
    if not fp_file.exists():
        enc = Encoder.load(EncoderConfig(model=str(model_dir)))
        fp_file.write_text(enc.fingerprint)
    return str(model_dir), fp_file.read_text().strip()


def store_schema_hash() -> str:
    """Changes with the store's on-disk layout (tables, indexes): a cached build is redone."""
    import hashlib

    import indexer.store.schema

    return hashlib.sha256(Path(indexer.store.schema.__file__).read_bytes()).hexdigest()[:12]


def build_collection(
    root: Path, n: int, index_type: str, cache: Path, seed: int, rebuild: bool = False
) -> dict:
    """Write (once) a published index of ``n`` synthetic articles into ``root``."""
    marker = root / "bench.json"
    want = {
        "format": FORMAT,
        "n": n,
        "index_type": index_type,
        "seed": seed,
        "texts": "resampled",
        "lexical": DEFAULT_ANALYSIS.to_dict(),
        "store_schema": store_schema_hash(),
    }
    if marker.exists() and not rebuild:
        info = json.loads(marker.read_text())
        same = {k: info.get(k) for k in want if k != "store_schema"} == {
            k: v for k, v in want.items() if k != "store_schema"
        }
        if same:
            if info.get("store_schema") != want["store_schema"]:
                log(
                    f"n={n}: the store schema changed since this collection was built; "
                    "pass --rebuild to measure the current layout"
                )
            return info
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    model_dir, fingerprint = model_info(cache)
    coll = Collection(seed)
    texts = Resampler(load_pool(cache), seed)
    idx = IndexDir(root)
    t0 = time.perf_counter()
    store = Store(idx.default_store_url())
    for start in range(0, n, CHUNK):
        store.apply(texts.articles(start, min(n, start + CHUNK)), version=1)
        if (start // CHUNK) % 10 == 9:
            rate = (start + CHUNK) / (time.perf_counter() - t0)
            log(f"n={n}: stored {start + CHUNK:,} articles ({rate:,.0f}/s)")
    t_store = time.perf_counter() - t0
    ids = store.visible_embedded_ids(1)
    if not np.array_equal(ids, np.arange(1, n + 1)):
        raise SystemExit("unexpected doc ids: row i must be doc id i + 1")
    t1 = time.perf_counter()
    log(f"n={n}: writing the lexical index")
    index_lexical(idx, store, None, 1, DEFAULT_ANALYSIS)  # as indexer.build does
    place(idx, 1)
    t_lexical = time.perf_counter() - t1
    index, t_index = build_faiss(root, n, index_type, coll)
    manifest = Manifest(
        version=1,
        encoder=EncoderInfo(model=model_dir, fingerprint=fingerprint, dim=DIM),
        faiss_factory=index.factory,
        faiss_params=index.params,
        next_doc_id=store.next_doc_id(),
        counts={**store.counts(1), "vectors": index.ntotal},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        inputs=[f"resampled:{n}:seed{seed}"],
        lexical=DEFAULT_ANALYSIS.to_dict(),
    )
    store.close()
    idx.write_manifest(manifest)
    idx.publish(1)
    info = {
        **want,
        "factory": index.factory,
        "params": index.params,
        "store_seconds": round(t_store, 1),
        "lexical_seconds": round(t_lexical, 1),
        "index_seconds": round(t_index, 1),
    }
    marker.write_text(json.dumps(info, indent=2))
    log(
        f"n={n}: built in {t_store + t_lexical + t_index:,.0f}s (store {t_store:,.0f}s, "
        f"lexical {t_lexical:,.0f}s, FAISS {t_index:,.0f}s)"
    )
    return info


def build_faiss(
    root: Path, n: int, index_type: str, coll: Collection, write_vectors: bool = True
) -> tuple:
    """Train and fill the ``index_type`` FAISS index (and vectors.f16) of a collection."""
    idx = IndexDir(root)
    factory = resolve_factory(index_type, n, DIM)
    index = VectorIndex.create(DIM, factory)
    t1 = time.perf_counter()
    if index.needs_training:
        take = train_sample_size(n, factory)  # as indexer.build does
        sample = np.concatenate(
            [coll.vectors(s, min(take, s + CHUNK)) for s in range(0, take, CHUNK)]
        )
        log(f"n={n}: training {factory} on {len(sample):,} vectors")
        index.train(sample)
        del sample
    vf = VectorFile(idx.vectors_path, DIM) if write_vectors else None
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        x = coll.vectors(start, stop)
        chunk_ids = np.arange(start + 1, stop + 1, dtype=np.int64)
        if vf is not None:
            vf.write(chunk_ids, x)
        index.add(chunk_ids, x)
        if (start // CHUNK) % 20 == 19:
            log(f"n={n}: indexed {stop:,} vectors")
    if vf is not None:
        vf.flush()
        vf.close()
    idx.version_dir(1).mkdir(parents=True, exist_ok=True)
    index.save(idx.faiss_path(1))
    return index, time.perf_counter() - t1


def reindex_collection(root: Path, n: int, index_type: str, seed: int) -> dict:
    """Rebuild only the FAISS side of a cached collection (the store is kept) with today's
    ``index_type`` resolution: the store of 1M articles takes ~35 min to write, FAISS ~8."""
    marker = root / "bench.json"
    info = json.loads(marker.read_text())
    idx = IndexDir(root)
    manifest = idx.read_manifest()
    index, t_index = build_faiss(root, n, index_type, Collection(seed), write_vectors=False)
    manifest.faiss_factory = index.factory
    manifest.faiss_params = index.params
    idx.write_manifest(manifest)
    idx.publish(manifest.version)
    info.update(factory=index.factory, params=index.params, index_seconds=round(t_index, 1))
    marker.write_text(json.dumps(info, indent=2))
    log(f"n={n}: FAISS rebuilt as {index.factory} in {t_index:,.0f}s")
    return info


def percentiles(ms: list[float]) -> dict:
    return {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "n": len(ms)}


def timed_runs(fn, items, warmup: int = 10) -> list[float]:
    for it in items[:warmup]:
        fn(it)
    out = []
    for it in items:
        t0 = time.perf_counter()
        fn(it)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def exact_top10(coll: Collection, n: int, qv: np.ndarray) -> np.ndarray:
    """Doc ids of the exact top 10 of every query (float32, all vectors): the baseline."""
    best_s = np.full((len(qv), 10), -np.inf, np.float32)
    best_i = np.zeros((len(qv), 10), np.int64)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        s = qv @ coll.vectors(start, stop).T
        all_s = np.concatenate([best_s, s], axis=1)
        all_i = np.concatenate([best_i, np.arange(start + 1, stop + 1)[None].repeat(len(qv), 0)], 1)
        top = np.argpartition(-all_s, 9, axis=1)[:, :10]
        best_s = np.take_along_axis(all_s, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
    return best_i


def exact_baseline_ms(root: Path, n: int, qv: np.ndarray, reps: int) -> list[float]:
    """Latency of one exact query over all n vectors held in RAM as float32."""
    x = VectorFile(IndexDir(root).vectors_path, DIM, readonly=True).read(np.arange(1, n + 1))
    return timed_runs(lambda q: np.argpartition(-(x @ q), 9)[:10], list(qv[:reps]), warmup=2)


def bench_size(n: int, args: argparse.Namespace, cache: Path) -> dict:
    from search import SearchEngine
    from search.dense import dense_top

    root = cache / "search-bench" / f"n{n}-{args.index_type}"
    info = build_collection(root, n, args.index_type, cache, args.seed, args.rebuild)
    if args.reindex:
        info = reindex_collection(root, n, args.index_type, args.seed)
    if args.build_only:
        return {"n": n, "build": info}
    coll = Collection(args.seed)
    resampler = Resampler(load_pool(cache), args.seed)
    topics = resampler.topic_queries(2 * args.queries)
    texts, warm_topics = topics[: args.queries], topics[args.queries :]
    questions = question_queries()
    _, qv = coll.queries(len(texts))  # vectors only: fresh draws of the collection's
    _, wqv = coll.queries(len(warm_topics), seed=1)
    _, qqv = coll.queries(len(questions), seed=2)
    engine = SearchEngine.open(root)
    state = engine.state
    pairs = zip(texts + warm_topics + questions, np.concatenate([qv, wqv, qqv]), strict=True)
    for text, v in pairs:  # pre-embedded queries
        engine.query_cache.put((state.embedder.key, text), v.astype(np.float32))
    res: dict = {"n": n, "build": info, "latency_ms": {}}
    if args.calibrate_only:
        res["calibrate"] = calibrate(state, qv)
        engine.close()
        return res
    cases = [("topic", m, None) for m in ("dense", "lexical", "hybrid")]
    cases += [("topic", m, name) for name in FILTERS for m in ("dense", "hybrid", "lexical")]
    cases += [("question", m, f) for f in (None, "narrow") for m in ("lexical", "hybrid")]
    warm = {"topic": [] if args.cold else warm_topics, "question": [] if args.cold else questions}
    timed = {"topic": texts, "question": questions}
    res["warmup"] = (
        "none"
        if args.cold
        else (
            f"topic: {len(warm_topics)} other topic queries per case; question: one pass of the "
            "same questions"
        )
    )

    def run(t: str, mode: str, f: Filters | None) -> None:
        engine.search(t, k=10, mode=mode, filters=f)

    for kind, mode, fname in cases:
        f = FILTERS[fname] if fname else None
        label = f"{kind}:{mode}" + (f"+filter:{fname}" if fname else "")
        for t in warm[kind]:
            run(t, mode, f)
        ms = timed_runs(
            lambda t, m=mode, f=f: run(t, m, f), timed[kind], warmup=0 if warm[kind] else 10
        )
        res["latency_ms"][label] = percentiles(ms)
        log(
            f"n={n}: {label:40s} p50 {percentile(ms, 50):7.2f} ms  p99 {percentile(ms, 99):7.2f} ms"
        )
    for fname, f in FILTERS.items():
        res.setdefault("filtered_set", {})[fname] = state.lexical.filter_count(f)
    # recall@10 of what the engine serves (and of the raw index, without exact re-scoring)
    truth = exact_top10(coll, n, qv)

    def every() -> np.ndarray:
        return np.arange(1, n + 1, dtype=np.int64)

    served = [[h.doc_id for h in engine.search(t, k=10, mode="dense").hits] for t in texts]
    raw = [
        [d for d, _ in dense_top(state.index, state.vectors, q, 10, all_ids=every, rescore=False)]
        for q in qv
    ]

    def recall(got: list[list[int]]) -> float:
        return float(
            np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)])
        )

    res["recall@10"] = {"served": recall(served), "index_only": recall(raw)}
    res["rescore"] = state.rescore
    log(
        f"n={n}: recall@10 served {res['recall@10']['served']:.3f}, index alone "
        f"{res['recall@10']['index_only']:.3f} ({info['factory']}, rescore={state.rescore})"
    )
    base = exact_baseline_ms(root, n, qv, reps=min(args.queries, 30))
    res["latency_ms"]["baseline:exact-numpy"] = percentiles(base)
    log(f"n={n}: baseline exact numpy  p50 {percentile(base, 50):7.2f} ms")
    if args.calibrate:
        res["calibrate"] = calibrate(state, qv)
    engine.close()
    return res


def calibrate(state, qv: np.ndarray) -> list[dict]:
    """Filtered dense: exact scoring from vectors.f16 vs the FAISS selector, by subset size."""
    from search.dense import _faiss_top, exact_top

    rng = np.random.default_rng(0)
    n = state.index.ntotal
    rows = []
    for size in (100, 300, 1_000, 3_000, 10_000, 20_000):
        if size > n // 2:
            break
        subset = np.sort(rng.choice(np.arange(1, n + 1), size, replace=False))
        qs = list(qv[:40])
        ex = timed_runs(lambda q, s=subset: exact_top(state.vectors, s, q, 10), qs, warmup=3)
        fa = timed_runs(lambda q, s=subset: _faiss_top(state.index, q, 10, s), qs, warmup=3)
        row = {"subset": size, "exact_p50": percentile(ex, 50), "faiss_p50": percentile(fa, 50)}
        rows.append(row)
        log(
            f"calibrate {size:>7,}: exact {row['exact_p50']:6.2f} ms  "
            f"faiss {row['faiss_p50']:6.2f} ms"
        )
    return rows


def forward_pass(cache: Path, reps: int) -> dict:
    """One query through the BioLinkBERT-base-shaped encoder (random weights), fp32, CPU."""
    model_dir, _ = model_info(cache)
    enc = Encoder.load(EncoderConfig(model=model_dir, device="cpu", batch_size=1))
    texts = question_queries()[: reps + 3]  # real text: token counts decide the cost
    ms = timed_runs(lambda t: enc.encode([t]), texts, warmup=3)
    return percentiles(ms)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="collection sizes, comma-separated")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--index-type", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help="default: ~/.cache/pubmed-search")
    p.add_argument("--calibrate", action="store_true", help="exact-vs-selector sweep too")
    p.add_argument("--calibrate-only", action="store_true", help="only the sweep")
    p.add_argument("--rebuild", action="store_true", help="rebuild cached collections")
    p.add_argument(
        "--reindex", action="store_true", help="rebuild only the FAISS side of cached ones"
    )
    p.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up pass (default: one pass of other queries per case first)",
    )
    p.add_argument("--build-only", action="store_true", help="build the collections, no timing")
    p.add_argument("--no-forward", action="store_true", help="skip the encoder forward pass")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args()
    cache = Path(args.cache or default_cache_dir())
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"({physical_cores()} physical), load {os.getloadavg()[0]:.1f} at start",
        "queries": args.queries,
        "sizes": [],
    }
    if not (args.no_forward or args.build_only):
        results["query_forward_pass_ms"] = forward_pass(cache, reps=30)
        fp = results["query_forward_pass_ms"]
        log(
            f"query encoder forward pass (BioLinkBERT-base shape): p50 {fp['p50']:.1f} ms "
            f"p99 {fp['p99']:.1f} ms"
        )
    for n in sizes:
        results["sizes"].append(bench_size(n, args, cache))
    results["load_end"] = os.getloadavg()
    if not (args.calibrate_only or args.build_only):
        report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


def report(results: dict) -> None:
    la = results["load_end"]
    print(
        f"\nsearch benchmark — {results['machine']} (load {la[0]:.1f}/{la[1]:.1f}/{la[2]:.1f} "
        f"at end), {results['queries']} topic queries, k=10"
    )
    if "query_forward_pass_ms" in results:
        fp = results["query_forward_pass_ms"]
        print(
            f"query forward pass (excluded below): p50 {fp['p50']:.1f} ms, p99 {fp['p99']:.1f} ms"
        )
    for r in results["sizes"]:
        b = r["build"]
        print(
            f"\nn = {r['n']:,}  index {b['factory']}  params {b['params']}  rescore={r['rescore']}"
        )
        print(f"  filtered sets: {r['filtered_set']}")
        print(f"  {'case':44s} {'p50 ms':>8s} {'p99 ms':>8s}")
        for label, v in r["latency_ms"].items():
            print(f"  {label:44s} {v['p50']:8.2f} {v['p99']:8.2f}")
        rc = r["recall@10"]
        print(
            f"  recall@10 vs exact: served {rc['served']:.3f}, index alone {rc['index_only']:.3f}"
        )


if __name__ == "__main__":
    main()
