"""Lexical text analysis chosen by measurement: tokens, stemming, stop words, title boost.

    make bench-analysis                                  # the full grid (~6 min on 2 cores)
    .venv/bin/python bench/analysis.py --out /tmp/analysis.json

Candidates: every :class:`indexer.lexical.analysis.Analysis` of token {bio, words} x stem
{on, off} x index_stopwords {True, False} x title_boost {1, 1.5, 2, 3} (``--boosts`` to
explore: 5 gained the topic task another +0.01 nDCG@10 on dev, but the choice would then
rest on one task type at the edge of the grid, so the default grid stops at 3). The first three
change the index, so each of the 8 combinations is indexed once per corpus with the
product's writer (``stage`` then ``write``); the title boost is a query-time weight, so the
4 boosts search the same index. PubMedQA's corpus has no titles: its figures do not depend
on the boost (measured once per index, shown for every boost).

Tasks (``bench/_tasks.py``): ``pubmedqa`` (286 dev questions, 1,000 abstracts), ``known-item``
(titles -> their untitled article among ~50,000 articles of the two real PubMed files) and
``topic`` (major MeSH descriptor names -> the articles with that major topic). Every query
goes through the product's ``LexicalIndex.search`` (k = 100); metrics are
:mod:`search.metrics` (MRR@10, nDCG@10, Recall@100), averaged per task and then over tasks.

Choice, on the dev splits only:

1. Token definitions must keep biomedical tokens (below): a definition is out when the
   query of any of the six tokens returns more than twice the articles that contain it
   (it floods with the digit part) under any stem / stop-word setting.
2. PubMedQA MRR@10 must be at least the product's reference (0.978).
3. Among the rest, the best *selection score*: the mean over the three tasks of nDCG@10,
   where the known-item task counts at title boost 1 whatever the candidate's boost. Its
   relevant documents have their titles removed by construction, so a title boost there
   can only lift the distractors' titles: its known-item figures at boost > 1 measure the
   task's construction, not the product (they are shown in the table, but the boost is
   chosen by the tasks whose relevant documents are indexed as they really are: topic;
   PubMedQA has no titles at all).

The chosen one and today's ``DEFAULT`` are then measured on the held-out splits
(known-item, topic), which played no part in the choice.

Biomedical tokens: for COVID-19, IL-6, SARS-CoV-2, BRCA1, p53 and 5-HT, the articles of the
real files (the topic task's corpus) whose title or abstract contains the token
(case-insensitive, not inside a longer run of letters and digits: ``COVID-19-related``
contains ``COVID-19``, ``IL-6R`` does not contain ``IL-6``); the query of the token (and
of its glued form, e.g. ``covid19``) per token definition: how many of those articles are in
the top N (N = how many contain it), how many results the query returns, and how many
articles contain the bare digit part (``19``) as a word, i.e. what a query would flood with
if the digits were a term of their own.

Output: markdown tables on stdout (README-ready), progress on stderr, JSON at ``--out``.
Index directories live in ``--work`` (default: a temporary directory, removed at the end).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# bench/ holds a file named like the `search` package: the repository root goes first.
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tantivy  # noqa: E402

from bench._tasks import TASKS, Corpus, Task, tasks  # noqa: E402
from indexer.lexical.analysis import DEFAULT, PATTERNS, Analysis  # noqa: E402
from indexer.lexical.reader import LexicalIndex  # noqa: E402
from indexer.lexical.writer import stage, write  # noqa: E402
from search.metrics import mean_metrics, mrr_at_k, ndcg_at_k, recall_at_k  # noqa: E402

K = 100
METRICS = {
    "MRR@10": lambda r, q: mrr_at_k(r, q, 10),
    "nDCG@10": lambda r, q: ndcg_at_k(r, q, 10),
    "Recall@100": lambda r, q: recall_at_k(r, q, 100),
}
REFERENCE_PUBMEDQA_MRR = 0.978
BOOSTS = (1.0, 1.5, 2.0, 3.0)
FLOOD_FACTOR = 2.0
BIO_TOKENS = {  # token -> (its glued variant, its bare digit part)
    "COVID-19": ("covid19", "19"),
    "IL-6": ("il6", "6"),
    "SARS-CoV-2": ("sarscov2", "2"),
    "BRCA1": ("BRCA-1", "1"),
    "p53": ("P53", "53"),
    "5-HT": ("5ht", "5"),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def index_key(a: Analysis) -> tuple[str, bool, bool]:
    """What of ``a`` the index depends on (the title boost is applied at query time)."""
    return (a.token, a.stem, a.index_stopwords)


def build(corpus: Corpus, a: Analysis, path: Path) -> float:
    """Index ``corpus`` at ``path`` with the product's writer; returns seconds."""
    t0 = time.perf_counter()
    rows = [(a_.pmid, a_) for a_ in corpus.articles]  # PMIDs ascending: doc id = PMID

    def next_rows(after: int, limit: int) -> list:
        import bisect

        i = bisect.bisect_right(ids, after)
        return rows[i : i + limit]

    ids = [r[0] for r in rows]
    stage(None, path, a)
    write(path, a, removed=[], first_new=1, rows=next_rows, chunk=len(rows) + 1)
    return time.perf_counter() - t0


def run_task(index: LexicalIndex, t: Task) -> tuple[dict[str, float], float]:
    """Mean metrics of ``t`` on ``index`` and mean milliseconds per query."""
    runs: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    for qid, text in t.queries.items():
        hits, _ = index.search(text, K)
        runs[qid] = [str(d) for d, _ in hits]
    ms = (time.perf_counter() - t0) * 1000 / max(len(t.queries), 1)
    m = mean_metrics(runs, t.qrels, METRICS)
    return {n: float(v or 0.0) for n, v in m.means.items()}, ms


def with_mean(per_task: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    out = dict(per_task)
    out["mean"] = {n: sum(r[n] for r in per_task.values()) / len(per_task) for n in METRICS}
    return out


def containing(corpus: Corpus, token: str) -> set[int]:
    """PMIDs whose title or abstract holds ``token`` not inside a longer alphanumeric run."""
    rx = re.compile(rf"(?<![^\W_]){re.escape(token)}(?![^\W_])", re.IGNORECASE)
    return {a.pmid for a in corpus.articles if rx.search(a.title) or rx.search(a.abstract)}


def token_behaviour(index: LexicalIndex, corpus: Corpus, cache: dict) -> dict[str, dict]:
    out = {}
    for token, (glued, digits) in BIO_TOKENS.items():
        if token not in cache:
            cache[token] = containing(corpus, token)
            cache[digits] = cache.get(digits) or containing(corpus, digits)
        have, digit_docs = cache[token], cache[digits]
        row: dict = {"containing": len(have), "digit_docs": len(digit_docs)}
        for label, q in (("query", token), ("glued", glued)):
            hits, total = index.search(q, max(len(have), 1))
            top = {d for d, _ in hits}
            row[label] = {
                "text": q,
                "at_top": len(top & have),
                "results": total,
            }
        out[token] = row
    return out


def fmt(x: float) -> str:
    return f"{x:.4f}"


def grid_table(results: list[dict], chosen: str, default: str) -> str:
    head = ["analysis"] + [f"{t} {m}" for t in TASKS for m in METRICS] + ["score"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(results, key=lambda r: -r["score"]):
        name = r["name"] + (" **(chosen)**" if r["name"] == chosen else "")
        name += " *(DEFAULT)*" if r["name"] == default else ""
        cells = [fmt(r["dev"][t][m]) for t in TASKS for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt(r['score'])} |")
    return "\n".join(lines)


def split_table(rows: dict[str, dict[str, dict[str, float]]]) -> str:
    names = [t for t in next(iter(rows.values())) if t != "mean"] + ["mean"]
    head = ["analysis"] + [f"{t} {m}" for t in names for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in rows.items():
        lines.append(
            f"| {label} | " + " | ".join(fmt(r[t][m]) for t in names for m in METRICS) + " |"
        )
    return "\n".join(lines)


def token_table(tok: dict[str, dict[str, dict]]) -> str:
    head = [
        "token",
        "analysis",
        "articles containing it",
        "in the top N",
        "results",
        "glued query: in top N / results",
        "articles with the bare digits",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for token in BIO_TOKENS:
        for label, rows in tok.items():
            r = rows[token]
            g = r["glued"]
            lines.append(
                f"| {token} | {label} | {r['containing']} | {r['query']['at_top']} | "
                f"{r['query']['results']} | `{g['text']}`: {g['at_top']} / {g['results']} | "
                f"{r['digit_docs']} ({r['digit_docs'] - r['containing']} more) |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--work", type=Path, default=None, help="index directories (kept)")
    ap.add_argument("--boosts", type=float, nargs="+", default=list(BOOSTS))
    ap.add_argument("--tokens", nargs="+", default=list(PATTERNS), choices=list(PATTERNS))
    args = ap.parse_args()

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    log(f"machine: {machine}, tantivy {tantivy.__version__}; work dir {work}")

    t0 = time.perf_counter()
    dev = tasks("dev")
    held = tasks("held-out")
    load_s = time.perf_counter() - t0
    corpora = {t.corpus.name: t.corpus for t in dev + held}
    log(
        f"tasks loaded in {load_s:.0f}s: "
        + ", ".join(f"{t.name} {t.split} {len(t.queries)}q/{len(t.corpus)}d" for t in dev + held)
    )

    candidates = [
        Analysis(token=tok, stem=stem, index_stopwords=stops, title_boost=b)
        for tok, stem, stops, b in itertools.product(
            args.tokens, (True, False), (True, False), args.boosts
        )
    ]
    index_analyses = {index_key(a): a for a in [*candidates, DEFAULT]}
    build_s: dict[str, float] = {}
    paths: dict[tuple, Path] = {}
    for key, a in index_analyses.items():
        for cname, corpus in corpora.items():
            path = work / f"{cname}-{a.token}-{int(a.stem)}-{int(a.index_stopwords)}"
            if not (path / "meta.json").exists():
                build_s[path.name] = build(corpus, a, path)
                log(f"indexed {path.name}: {len(corpus)} docs in {build_s[path.name]:.1f}s")
            paths[(key, cname)] = path
    index_s = time.perf_counter() - t0 - load_s

    def evaluate(a: Analysis, ts: list[Task], memo: dict) -> dict[str, dict[str, float]]:
        per: dict[str, dict[str, float]] = {}
        for t in ts:
            has_titles = any(x.title for x in t.corpus.articles)
            mk = (index_key(a), a.title_boost if has_titles else None, t.name, t.split)
            if mk not in memo:
                idx = LexicalIndex(paths[(index_key(a), t.corpus.name)], a)
                memo[mk] = run_task(idx, t)
            per[t.name] = memo[mk][0]
        return with_mean(per)

    memo: dict = {}
    results = []
    for a in candidates:
        results.append({"name": a.name, "analysis": a.to_dict(), "dev": evaluate(a, dev, memo)})
        d = results[-1]["dev"]
        log(f"{a.name:28s} " + "  ".join(f"{t} {d[t]['nDCG@10']:.4f}" for t in d))
    search_s = time.perf_counter() - t0 - load_s - index_s
    per_task_ms: dict[str, list[float]] = {}
    for k, v in memo.items():
        per_task_ms.setdefault(k[2], []).append(v[1])
    ms_per_query = {t: sum(v) / len(v) for t, v in per_task_ms.items()}

    full = next(t.corpus for t in dev if t.name == "topic")
    cache: dict = {}
    tok_all: dict[tuple, dict] = {}  # index key -> token behaviour on the full corpus
    for key, a in index_analyses.items():
        idx = LexicalIndex(paths[(key, full.name)], a)
        tok_all[key] = token_behaviour(idx, full, cache)
    floods = sorted(
        {
            key[0]
            for key, rows in tok_all.items()
            for r in rows.values()
            if r["query"]["results"] > FLOOD_FACTOR * r["containing"]
        }
    )
    by_name = {r["name"]: r for r in results}
    for r in results:
        a = Analysis.from_dict(r["analysis"])
        neutral = by_name.get(Analysis(a.token, a.stem, a.index_stopwords, 1.0).name, r)
        parts = [r["dev"][t]["nDCG@10"] for t in TASKS if t != "known-item"]
        parts.append(neutral["dev"]["known-item"]["nDCG@10"])
        r["score"] = sum(parts) / len(parts)
    eligible = [
        r
        for r in results
        if r["analysis"]["token"] not in floods
        and r["dev"]["pubmedqa"]["MRR@10"] >= REFERENCE_PUBMEDQA_MRR
    ]
    pool = eligible or results
    best = max(pool, key=lambda r: (r["score"], r["dev"]["mean"]["nDCG@10"]))
    chosen = Analysis.from_dict(best["analysis"])
    default_dev = evaluate(DEFAULT, dev, memo)
    held_rows = {
        f"{chosen.name} (chosen)": evaluate(chosen, held, memo),
        f"{DEFAULT.name} (DEFAULT)": evaluate(DEFAULT, held, memo),
    }
    if chosen == DEFAULT:
        held_rows = {f"{chosen.name} (chosen = DEFAULT)": evaluate(chosen, held, memo)}

    tok_rows = {}
    for key, a in index_analyses.items():
        if key[1:] == index_key(chosen)[1:] or key == index_key(DEFAULT):
            tok_rows[a.name.rsplit("-t", 1)[0]] = tok_all[key]
    total_s = time.perf_counter() - started

    print("## Lexical analysis: dev splits (chosen on these)\n")
    print(grid_table(results, best["name"], DEFAULT.name if DEFAULT in candidates else ""))
    if DEFAULT not in candidates:
        print(f"\nDEFAULT {DEFAULT.name}: " + json.dumps(default_dev))
    print("\n## Held-out splits (known-item, topic: not used for the choice)\n")
    print(split_table(held_rows))
    print(f"\nchosen: {chosen.name} ({chosen.to_dict()}); DEFAULT: {DEFAULT.name}")
    print(
        f"rule: best selection score (mean dev nDCG@10 over {', '.join(TASKS)}, known-item at "
        f"title boost 1) among candidates whose token definition does not flood "
        f"(out: {', '.join(floods) or 'none'}) and whose PubMedQA MRR@10 >= "
        f"{REFERENCE_PUBMEDQA_MRR} ({len(eligible)} of {len(results)} qualify)"
    )
    print(f"\n## Biomedical tokens ({len(full)} articles of the two real files)\n")
    print(token_table(tok_rows))
    print(
        f"\nrun: {total_s:.0f}s ({load_s:.0f}s reading the data, {index_s:.0f}s indexing "
        f"{len(build_s)} indexes, {search_s:.0f}s searching); {machine}"
    )

    if args.out:
        blob = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "tantivy": tantivy.__version__,
            "k": K,
            "rule": "max selection score; no flooding token definition; pubmedqa MRR@10 >= 0.978",
            "flooding_tokens": floods,
            "tasks": {
                f"{t.name}/{t.split}": {"queries": len(t.queries), "docs": len(t.corpus)}
                for t in dev + held
            },
            "dev": results,
            "default": {"name": DEFAULT.name, "analysis": DEFAULT.to_dict(), "dev": default_dev},
            "chosen": {"name": chosen.name, "analysis": chosen.to_dict()},
            "held_out": held_rows,
            "tokens": tok_rows,
            "seconds": {
                "total": total_s,
                "load": load_s,
                "index": index_s,
                "search": search_s,
                "builds": build_s,
            },
            "ms_per_query": ms_per_query,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(blob, indent=2))
        log(f"wrote {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
