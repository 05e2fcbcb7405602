"""Hybrid fusion chosen by measurement: lexical, dense, RRF, weighted RRF, convex, calibrated.

    make bench-fusion                                 # ~35 min on 2 cores the first time
    .venv/bin/python bench/fusion.py --out /tmp/fusion.json

Indexes, built once with the product's ``build`` into ``--work`` (default
``<cache>/fusion-bench``) and reused: the real all-MiniLM-L6-v2 weights, 256 tokens per
article, a flat FAISS index, over (a) the 30,000 citations of the baseline file
``pubmed20n0014`` with the known-item queries' 600 titles left out (``bench/_tasks.py``,
``source="baseline"``) and (b) the 1,000 PubMedQA abstracts (no titles).

Tasks (``bench/_tasks.py``), each with a dev and a held-out split: ``known-item`` (titles ->
their untitled article, 300 + 300), ``topic`` (major MeSH descriptor names -> the articles
with that major topic, 150 + 150), over (a); ``pubmedqa`` (the 286 questions -> their
abstract) over (b), split here into dev and held-out halves by the same hash rule.

Every query is run once per side through the product (``SearchEngine``: the query encoder,
FAISS, Tantivy) to :data:`MAX_DEPTH` candidates; the fusions are then applied to those
lists with :class:`indexer.fusion.Fusion`, exactly as the engine's hybrid mode does (checked:
the engine's own hybrid top 10 equals the offline default fusion on the first queries).

Rows: ``lexical``, ``dense``; ``rrf`` (today's default: k 60, 1/1, depth 100); ``weighted
rrf`` and ``convex``: the one setting of each (dense weight 0..1 by 0.1, depth
:data:`DEPTHS`, k in :data:`K_RRFS` for RRF) with the best mean of nDCG@10 and MRR@10 over
the dev splits of all tasks, then measured on every split; ``calibrated``: what the build's
label-free calibration (``indexer.build.calibrate``) records for each index, no labels used.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._tasks import Corpus, Task, known_item, pubmedqa, split_of, topic  # noqa: E402
from indexer.build import build  # noqa: E402
from indexer.build.calibrate import calibrate  # noqa: E402
from indexer.build.settings import BuildSettings  # noqa: E402
from indexer.fusion import DEFAULT_FUSION, Fusion  # noqa: E402
from indexer.lexical import Analysis  # noqa: E402
from indexer.manifest import IndexDir  # noqa: E402
from indexer.samples import default_cache_dir, minilm_model_dir  # noqa: E402
from search import feedback  # noqa: E402
from search.dense import selected_top  # noqa: E402
from search.feedback import DEFAULT_FEEDBACK, Feedback  # noqa: E402
from search.metrics import mean_metrics, mrr_at_k, ndcg_at_k, recall_at_k  # noqa: E402

MAX_DEPTH = 200
DEPTHS = (50, 100, 200)
K_RRFS = (10, 60)
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
METRICS = {
    "nDCG@10": lambda r, q: ndcg_at_k(r, q, 10),
    "MRR@10": lambda r, q: mrr_at_k(r, q, 10),
    "Recall@100": lambda r, q: recall_at_k(r, q, 100),
}
FEEDBACKS = tuple(
    Feedback(d, t, w, b)
    for d, t, w, b in itertools.product((3, 10), (10, 20), (0.5, 0.7), (0.5, 1.0))
)
PRF_ROWS = ("lexical + RM3", "dense + Rocchio", "calibrated + PRF")
Ranked = list[tuple[int, float]]
Lists = dict[str, tuple[Ranked, Ranked]]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def index_for(corpus: Corpus, work: Path, model: Path | None = None) -> Path:
    """The product's index of ``corpus`` with ``model`` (default: MiniLM; built once, then
    reused)."""
    label = "minilm" if model is None else model.name
    index_dir = work / f"index-{corpus.name}-{label}"
    if IndexDir(index_dir).current_version() is not None:
        return index_dir
    path = work / f"{corpus.name}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for a in corpus.articles:
                f.write(json.dumps(a.to_dict()) + "\n")
        tmp.rename(path)
    log(f"building {index_dir} ({len(corpus)} articles; embedding takes a while)")
    settings = BuildSettings(
        model=str(model or minilm_model_dir()),
        max_length=256,
        index_type="flat",
        show_progress=False,
    )
    build(index_dir, [path], settings)
    return index_dir


def calibrated(engine, work: Path) -> Fusion:
    """The index's recorded calibration; for an index built before calibration existed,
    the same measurement run now (cached beside the index; ``min_words`` as a build
    records it)."""
    state = engine.state
    if state.manifest.fusion is not None:
        return state.manifest.fusion
    cache = work / f"{Path(engine.index_dir.root).name}.fusion.json"
    if cache.exists():
        recorded = json.loads(cache.read_text())
        if "min_words" in recorded:
            return Fusion.from_dict(recorded)
    idx = engine.index_dir
    fusion = calibrate(
        state.store,
        state.version,
        idx.lexical_path(state.version),
        Analysis.from_dict(state.manifest.lexical),
        state.index,
        state.embedder.encoder,
        state.manifest.next_doc_id,
        work / "calibrate-lexical",
    )
    cache.write_text(json.dumps(fusion.to_dict()))
    return fusion


def side_lists(engine, task: Task) -> Lists:
    """Per query: (dense, lexical) top :data:`MAX_DEPTH` of the product's two sides."""
    state = engine.state
    out: Lists = {}
    for qid, text in task.queries.items():
        dense, _ = selected_top(state, engine.embed_query(text), MAX_DEPTH, None)
        lexical, _ = state.lexical.search(text, limit=MAX_DEPTH)
        out[qid] = (dense, lexical)
    return out


def check_engine(engine, task: Task, n: int = 20, prf: Feedback | None = None) -> None:
    """The engine's hybrid top 10 is the offline fusion (with ``prf``: the offline feedback
    pass) of lists fetched at the engine's own depth (a tie at the depth boundary of a deeper
    list may hold another article)."""
    state = engine.state
    fusion = state.manifest.hybrid_fusion
    for qid in list(task.queries)[:n]:
        text = task.queries[qid]
        q = engine.embed_query(text)
        dense, _ = selected_top(state, q, fusion.depth, None)
        match = state.lexical.text_query(text)
        lexical = state.lexical.run(match, fusion.depth)[0] if match is not None else []
        f = fusion.for_query(text)
        offline = f.fuse(dense, lexical)
        if prf is not None:
            top = offline[: prf.docs]
            dense, _ = selected_top(state, feedback.rocchio(state, q, top, prf), fusion.depth, None)
            if match is not None:
                expanded = feedback.expand_lexical(state, match, text, top, prf)
                lexical = state.lexical.run(expanded, fusion.depth)[0]
            offline = f.fuse(dense, lexical)
        response = engine.search(text, k=10, mode="hybrid", prf=prf or False)
        served = [h.doc_id for h in response.hits]
        assert served == [d for d, _ in offline[:10]], (task.name, qid, served, offline[:10])


def pmid_map(engine, lists: Lists) -> dict[int, str]:
    ids = {d for dense, lexical in lists.values() for d, _ in (*dense, *lexical)}
    docs = engine.state.store.get_docs(ids)
    return {d: str(doc.article.pmid) for d, doc in docs.items()}


def score(task: Task, lists: Lists, pmids: dict[int, str], ranker) -> dict[str, float]:
    """Metrics of ``ranker(query text, dense, lexical)`` over the task's queries."""
    return score_runs(
        task, {qid: ranker(task.queries[qid], *pair) for qid, pair in lists.items()}, pmids
    )


def score_runs(task: Task, ranked: dict[str, Ranked], pmids: dict[int, str]) -> dict[str, float]:
    runs = {qid: [pmids[d] for d, _ in r][:100] for qid, r in ranked.items()}
    means = mean_metrics(runs, task.qrels, METRICS).means
    return {k: round(float(v or 0.0), 4) for k, v in means.items()}


def prf_rankings(engine, task: Task, lists: Lists, cal: Fusion) -> dict[Feedback, dict]:
    """Per setting of :data:`FEEDBACKS`: the second pass of each :data:`PRF_ROWS` row per
    query (lexical and dense fed by their own first pass, calibrated hybrid by its fused
    top), as ``search.feedback`` and the engine compute it."""
    out: dict[Feedback, dict] = {fb: {row: {} for row in PRF_ROWS} for fb in FEEDBACKS}
    for qid, text in task.queries.items():
        for fb, rows in query_prf(engine, text, *lists[qid], cal).items():
            for row, ranked in rows.items():
                out[fb][row][qid] = ranked
    return out


def query_prf(
    engine, text: str, dense: Ranked, lexical: Ranked, cal: Fusion
) -> dict[Feedback, dict[str, Ranked]]:
    """One query's :func:`prf_rankings` (second passes shared between settings that agree)."""
    state = engine.state
    q = engine.embed_query(text)
    match = state.lexical.text_query(text)
    f = cal.for_query(text)
    first = f.fuse(dense[: f.depth], lexical[: f.depth])
    memo: dict[tuple, Ranked] = {}

    def lex2(top: Ranked, fb: Feedback, key: tuple) -> Ranked:
        if match is None:
            return []
        if key not in memo:
            expanded = feedback.expand_lexical(state, match, text, top, fb)
            memo[key] = state.lexical.run(expanded, MAX_DEPTH)[0]
        return memo[key]

    def dense2(top: Ranked, fb: Feedback, key: tuple) -> Ranked:
        if key not in memo:
            moved = feedback.rocchio(state, q, top, fb)
            memo[key] = selected_top(state, moved, MAX_DEPTH, None)[0]
        return memo[key]

    out = {}
    for fb in FEEDBACKS:
        lex_key, dense_key = (fb.docs, fb.terms, fb.query_weight), (fb.docs, fb.beta)
        top = first[: fb.docs]
        d2, l2 = dense2(top, fb, ("hd", *dense_key)), lex2(top, fb, ("hl", *lex_key))
        out[fb] = {
            "lexical + RM3": lex2(lexical, fb, ("l", *lex_key))[:100],
            "dense + Rocchio": dense2(dense, fb, ("d", *dense_key))[:100],
            "calibrated + PRF": f.fuse(d2[: f.depth], l2[: f.depth])[:100],
        }
    return out


def pmids_of(engine, rankings: dict[Feedback, dict], pmids: dict[int, str]) -> None:
    """Add the PMIDs of every article the second passes found to ``pmids``."""
    ids = {
        d
        for rows in rankings.values()
        for runs in rows.values()
        for r in runs.values()
        for d, _ in r
    } - set(pmids)
    for d, doc in engine.state.store.get_docs(ids).items():
        pmids[d] = str(doc.article.pmid)


def fused(fusion: Fusion):
    def rank(text: str, dense, lexical):
        f = fusion.for_query(text)
        return f.fuse(dense[: f.depth], lexical[: f.depth])

    return rank


def candidates() -> dict[str, list[Fusion]]:
    rrf = [
        Fusion("rrf", w, round(1 - w, 1), k, d, "dev tasks")
        for w, k, d in itertools.product(WEIGHTS[1:-1], K_RRFS, DEPTHS)
    ]
    convex = [
        Fusion("convex", w, round(1 - w, 1), depth=d, chosen_by="dev tasks")
        for w, d in itertools.product(WEIGHTS[1:-1], DEPTHS)
    ]
    return {"weighted rrf": rrf, "convex": convex}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=default_cache_dir() / "fusion-bench")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    ap.add_argument(
        "--model", type=Path, default=None, help="another encoder (e.g. a tuned one) than MiniLM"
    )
    ap.add_argument("--no-prf", action="store_true", help="leave out the feedback rows")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    from search.engine import SearchEngine

    load = [os.getloadavg()[0]]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    qa = pubmedqa("dev")
    halves = {
        s: [q for q in qa.queries if split_of("pubmedqa", q) == s] for s in ("dev", "held-out")
    }
    groups = [
        [known_item(s, source="baseline") for s in ("dev", "held-out")]
        + [topic(s, source="baseline") for s in ("dev", "held-out")],
        [
            Task(
                "pubmedqa",
                s,
                {q: qa.queries[q] for q in qids},
                {q: qa.qrels[q] for q in qids},
                qa.corpus,
            )
            for s, qids in halves.items()
        ],
    ]
    measured: list[dict] = []  # per task split: lists, qrels, pmids, calibrated fusion
    calibrations = {}
    for group in groups:
        index_dir = index_for(group[0].corpus, args.work, args.model)
        with SearchEngine.open(index_dir) as engine:
            fusion = calibrated(engine, args.work)
            calibrations[group[0].corpus.name] = fusion.to_dict()
            log(f"{group[0].corpus.name}: calibrated {fusion.describe()}")
            for t in group:
                started = time.monotonic()
                lists = side_lists(engine, t)
                check_engine(engine, t)
                entry = {"task": t, "lists": lists, "pmids": pmid_map(engine, lists), "cal": fusion}
                if not args.no_prf:
                    check_engine(engine, t, prf=DEFAULT_FEEDBACK)
                    entry["prf"] = prf_rankings(engine, t, lists, fusion)
                    pmids_of(engine, entry["prf"], entry["pmids"])
                measured.append(entry)
                load.append(os.getloadavg()[0])
                log(f"{t.name}/{t.split}: {len(lists)} queries, {time.monotonic() - started:.0f}s")

    def run(m: dict, ranker) -> dict[str, float]:
        return score(m["task"], m["lists"], m["pmids"], ranker)

    chosen: dict[str, Fusion] = {}
    dev = [m for m in measured if m["task"].split == "dev"]
    for name, cands in candidates().items():

        def objective(f: Fusion) -> float:
            rows = [run(m, fused(f)) for m in dev]
            return sum(r["nDCG@10"] + r["MRR@10"] for r in rows) / (2 * len(rows))

        chosen[name] = max(cands, key=objective)
        log(f"{name}: {chosen[name].describe()}")
    prf_grid: list[dict] = []
    best_prf: Feedback | None = None
    if not args.no_prf:

        def prf_objective(fb: Feedback) -> float:
            rows = [
                score_runs(m["task"], m["prf"][fb]["calibrated + PRF"], m["pmids"]) for m in dev
            ]
            return sum(r["nDCG@10"] + r["MRR@10"] for r in rows) / (2 * len(rows))

        prf_grid = [{"feedback": asdict(fb), "dev": prf_objective(fb)} for fb in FEEDBACKS]
        best_prf = max(FEEDBACKS, key=prf_objective)
        log(f"feedback: {best_prf} (default {DEFAULT_FEEDBACK})")

    table = []
    for m in measured:
        t = m["task"]
        rows = {
            "lexical": run(m, lambda text, dense, lexical: lexical),
            "dense": run(m, lambda text, dense, lexical: dense),
            "rrf": run(m, fused(DEFAULT_FUSION)),
            "weighted rrf": run(m, fused(chosen["weighted rrf"])),
            "convex": run(m, fused(chosen["convex"])),
            "calibrated": run(m, fused(m["cal"])),
        }
        if best_prf is not None:
            for row in PRF_ROWS:
                rows[row] = score_runs(t, m["prf"][best_prf][row], m["pmids"])
        table.append({"task": t.name, "split": t.split, "queries": len(t.queries), "rows": rows})

    names = ["lexical", "dense", "rrf", "weighted rrf", "convex", "calibrated"]
    names += list(PRF_ROWS) if best_prf is not None else []
    print("| task | split | queries | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for entry in table:
        r = entry["rows"]
        cells = [f"{r[n]['nDCG@10']:.3f} / {r[n]['MRR@10']:.3f}" for n in names]
        print(f"| {entry['task']} | {entry['split']} | {entry['queries']} | " + " | ".join(cells))
    print("\nchosen on dev: " + "; ".join(f"{k}: {v.describe()}" for k, v in chosen.items()))
    if best_prf is not None:
        print(f"feedback chosen on dev (calibrated + PRF): {best_prf}")
        for g in sorted(prf_grid, key=lambda g: -g["dev"]):
            print(f"  {g['feedback']}: dev mean {g['dev']:.4f}")
    for name, cal in calibrations.items():
        f = Fusion.from_dict(cal)
        extra = cal["calibration"].get("skipped") or (
            f"{cal['calibration']['pairs']} pairs, MRR@10 {cal['calibration']['mrr10']}"
        )
        print(f"calibrated ({name}): {f.describe()}; {extra}")
    print(f"machine: {machine}, load avg {min(load):.1f}-{max(load):.1f}")
    if args.out:
        blob = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "load": [min(load), max(load)],
            "chosen": {k: v.to_dict() for k, v in chosen.items()},
            "calibrated": calibrations,
            "table": table,
            "model": str(args.model or "all-MiniLM-L6-v2"),
            "prf": None if best_prf is None else asdict(best_prf),
            "prf_grid": prf_grid,
        }
        args.out.write_text(json.dumps(blob, indent=2))


if __name__ == "__main__":
    main()
