"""Evaluate retrieval quality: read queries and judgements, run them, score the rankings.

Inputs
- *Known-item* JSONL: one ``{"query": ..., "pmid": ...}`` per line (``pmid`` may be a list
  or ``pmids``); the query id is the ``id`` field when present, else the 1-based line
  number. Each listed PMID is relevant with grade 1.
- *BEIR*: ``queries.jsonl`` with ``_id`` and ``text`` plus a qrels TSV
  ``query-id corpus-id score`` (header line optional; graded; 0 = judged non-relevant).
  TREC qrels (``qid 0 docid grade``) are read too. Corpus ids must be PMIDs.

When ``--qrels`` is given its judgements replace any PMIDs in the query file, and only the
queries it judges are run (BEIR's ``queries.jsonl`` holds every split); the others are
counted as ``unjudged``. Queries whose judgements hold no relevant doc are run, written to
the run file, left out of the means and counted (``no_relevant``): see ``search.metrics``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from indexer.errors import InvalidParameter, PubmedSearchError, Unavailable
from indexer.fusion import DEFAULT_FUSION, Fusion
from search.metrics import STANDARD_METRICS, mean_metrics, recall_curve

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the engine's largest page
MAX_K = 1000
CURVE_K = 100
TIE_STEP = 2.0**-20  # relative gap between written run-file scores
FIXED_MODE = "hybrid-fixed"
"""Hybrid with the fixed default fusion (RRF, k 60, 1/1) instead of the index's recorded,
calibrated one: ``eval --mode all`` reports both."""
ALL_MODES = ("hybrid", FIXED_MODE, "dense", "lexical")


class EvalInputError(PubmedSearchError, ValueError):
    """A query or qrels file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Query:
    qid: str
    text: str


@dataclass
class EvalSet:
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    format: str  # "known-item" | "beir"
    unjudged: int = 0


class _Hit(Protocol):
    pmid: int
    score: float


class _Response(Protocol):
    hits: Sequence[_Hit]


class Engine(Protocol):
    def search(
        self,
        query: str,
        k: int = ...,
        mode: str = ...,
        page: int = ...,
        fusion: Fusion | None = ...,
    ) -> _Response: ...


def _pmids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        s = str(v).strip()
        if not s.isdigit():
            raise ValueError(f"not a PMID: {v!r}")
        out.append(str(int(s)))
    return out


def _lines(path: str | Path, what: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise EvalInputError(f"{path}: cannot read {what}: {e}") from e


def read_queries(path: str | Path) -> tuple[list[Query], dict[str, dict[str, int]], str]:
    """Queries of a known-item or BEIR JSONL file, the known-item judgements, and the format."""
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    fmt: str | None = None
    seen: set[str] = set()
    for lineno, line in enumerate(_lines(path, "queries"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalInputError(f"{where}: not JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise EvalInputError(f"{where}: expected a JSON object")
        if "_id" in obj and "text" in obj:
            kind, qid, text = "beir", str(obj["_id"]), obj["text"]
        elif "query" in obj:
            kind, text = "known-item", obj["query"]
            qid = str(obj["id"]) if "id" in obj else str(lineno)
        else:
            raise EvalInputError(f"{where}: expected 'query' (+ 'pmid') or '_id' + 'text'")
        if fmt is not None and kind != fmt:
            raise EvalInputError(f"{where}: mixes {kind} and {fmt} query lines")
        fmt = kind
        if not isinstance(text, str):
            raise EvalInputError(f"{where}: query text must be a string")
        if qid in seen:
            raise EvalInputError(f"{where}: duplicate query id {qid!r}")
        seen.add(qid)
        queries.append(Query(qid, text))
        if kind == "known-item":
            target = obj.get("pmid", obj.get("pmids"))
            if target is None:
                continue
            try:
                qrels[qid] = {p: 1 for p in _pmids(target)}
            except ValueError as e:
                raise EvalInputError(f"{where}: {e}") from e
    if not queries:
        raise EvalInputError(f"{path}: no queries")
    return queries, qrels, fmt or "known-item"


def _grade(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        value = float(text)  # raises ValueError for a header's "score"
        if not value.is_integer():
            raise
        return int(value)


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """``{qid: {docid: grade}}`` from a BEIR qrels TSV (header optional) or TREC qrels."""
    qrels: dict[str, dict[str, int]] = {}
    first = True
    for lineno, line in enumerate(_lines(path, "qrels"), start=1):
        cols = line.split()
        if not cols:
            continue
        if len(cols) == 3:
            qid, doc, grade = cols
        elif len(cols) == 4:
            qid, _, doc, grade = cols
        else:
            raise EvalInputError(
                f"{path}:{lineno}: expected 'query-id corpus-id score' "
                f"or 'qid 0 docid grade', got {len(cols)} columns"
            )
        try:
            g = _grade(grade)
        except ValueError as e:
            if first:  # a header line such as "query-id corpus-id score"
                first = False
                continue
            raise EvalInputError(f"{path}:{lineno}: grade {grade!r} is not an integer") from e
        first = False
        doc = str(int(doc)) if doc.isdigit() else doc
        judged = qrels.setdefault(qid, {})
        judged[doc] = max(g, judged.get(doc, g))
    if not qrels:
        raise EvalInputError(f"{path}: no judgements")
    return qrels


def load_eval_set(queries_path: str | Path, qrels_path: str | Path | None = None) -> EvalSet:
    queries, qrels, fmt = read_queries(queries_path)
    if qrels_path is not None:
        qrels = read_qrels(qrels_path)
    elif fmt == "beir":
        raise EvalInputError(f"{queries_path}: BEIR queries need a qrels file (--qrels)")
    judged = [q for q in queries if q.qid in qrels]
    if not judged:
        raise EvalInputError(f"{queries_path}: no query has judgements")
    return EvalSet(judged, qrels, fmt, unjudged=len(queries) - len(judged))


def _search(engine: Engine, text: str, k: int, mode: str, page: int = 1) -> _Response:
    if mode == FIXED_MODE:
        return engine.search(text, k=k, mode="hybrid", page=page, fusion=DEFAULT_FUSION)
    return engine.search(text, k=k, mode=mode, page=page)


def ranked(engine: Engine, text: str, mode: str, k: int) -> list[tuple[str, float]]:
    """The top ``k`` (pmid, score) of one query, paging through the engine when k > 100
    (``mode`` :data:`FIXED_MODE`: hybrid with the default fusion).

    Pages are concatenated (a PMID seen on an earlier page is dropped). Hybrid pages are
    fused from candidate lists that grow with the page number, so a deep hybrid ranking is
    close to, not exactly, one fused list of depth k.
    """
    if k <= PAGE_SIZE:
        return [(str(h.pmid), float(h.score)) for h in _search(engine, text, k, mode).hits]
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for page in range(1, math.ceil(k / PAGE_SIZE) + 1):
        hits = _search(engine, text, PAGE_SIZE, mode, page).hits
        for h in hits:
            pmid = str(h.pmid)
            if pmid not in seen:
                seen.add(pmid)
                out.append((pmid, float(h.score)))
        if len(hits) < PAGE_SIZE:
            break
    return out[:k]


@dataclass
class ModeReport:
    mode: str
    metrics: dict[str, float | None]
    queries: int
    evaluated: int
    no_relevant: int
    errors: int
    seconds: float
    recall_curve: list[float] = field(default_factory=list)
    run: dict[str, list[tuple[str, float]]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "queries": self.queries,
            "evaluated": self.evaluated,
            "no_relevant": self.no_relevant,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "ms_per_query": round(1000 * self.seconds / max(self.queries, 1), 2),
        }


def run_mode(engine: Engine, eval_set: EvalSet, mode: str, k: int) -> ModeReport:
    """Run every query of ``eval_set`` in ``mode`` and score the top ``k``."""
    from search.results import SearchError

    if not 1 <= k <= MAX_K:
        raise InvalidParameter(f"k must be in 1..{MAX_K}, got {k}")
    run: dict[str, list[tuple[str, float]]] = {}
    errors = 0
    start = time.perf_counter()
    for q in eval_set.queries:
        try:
            run[q.qid] = ranked(engine, q.text, mode, k)
        except (SearchError, ValueError) as e:  # e.g. an empty or over-long query
            errors += 1
            log.warning("query %s (%r) failed in %s mode: %s", q.qid, q.text[:60], mode, e)
            run[q.qid] = []
    seconds = time.perf_counter() - start
    rankings = {qid: [d for d, _ in hits] for qid, hits in run.items()}
    result = mean_metrics(rankings, eval_set.qrels, STANDARD_METRICS)
    curve_k = min(CURVE_K, k)
    curves = [
        c
        for qid in result.per_query
        if (c := recall_curve(rankings[qid], eval_set.qrels[qid], curve_k)) is not None
    ]
    mean_curve = [sum(c[i] for c in curves) / len(curves) for i in range(curve_k)] if curves else []
    return ModeReport(
        mode=mode,
        metrics=result.means,
        queries=len(run),
        evaluated=result.evaluated,
        no_relevant=len(result.no_relevant),
        errors=errors,
        seconds=seconds,
        recall_curve=mean_curve,
        run=run,
    )


@dataclass
class EvalReport:
    k: int
    format: str
    unjudged: int
    modes: list[ModeReport]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.info,
            "k": self.k,
            "format": self.format,
            "unjudged": self.unjudged,
            "modes": {m.mode: m.to_dict() for m in self.modes},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        names = list(STANDARD_METRICS)
        header = ["mode", *names, "queries", "no-rel", "ms/query"]
        rows = [header]
        for m in self.modes:
            d = m.to_dict()
            values = [("-" if m.metrics[n] is None else f"{m.metrics[n]:.4f}") for n in names]
            rows.append(
                [m.mode, *values, str(m.queries), str(m.no_relevant), f"{d['ms_per_query']}"]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        notes = [
            f"MAP over the top {self.k}; queries without a relevant doc are left out of the "
            "means (no-rel)."
        ]
        if "fusion" in self.info and any(m.mode in ("hybrid", FIXED_MODE) for m in self.modes):
            notes.append(
                f"hybrid: the index's fusion, {self.info['fusion']}; {FIXED_MODE}: "
                f"{DEFAULT_FUSION.describe().replace('(default)', '(fixed)')}."
            )
        if self.k < 100:
            notes.append(f"-k {self.k} < 100: Recall@100 is Recall@{self.k}.")
        if self.unjudged:
            notes.append(f"{self.unjudged} queries without judgements in the qrels were not run.")
        if any(m.errors for m in self.modes):
            notes.append(
                "Some queries failed (empty rankings): "
                + ", ".join(f"{m.mode} {m.errors}" for m in self.modes if m.errors)
            )
        return "\n".join([*lines, "", *notes])


def evaluate(engine: Engine, eval_set: EvalSet, modes: Iterable[str], k: int = 100) -> EvalReport:
    reports = [run_mode(engine, eval_set, mode, k) for mode in modes]
    return EvalReport(k=k, format=eval_set.format, unjudged=eval_set.unjudged, modes=reports)


def write_run(path: str | Path, run: dict[str, list[tuple[str, float]]], tag: str) -> Path:
    """A TREC run file: ``qid Q0 docid rank score tag`` (rank from 1, the engine's order).

    trec_eval and ranx re-sort each query by score and break ties their own way (trec_eval
    compares scores in single precision), so scores are written with ``repr`` and a score
    not below the previous one by 2**-20 of its size (tied, or within float32 resolution) is
    lowered to that: a relative shift of ~1e-6 per tied position that makes any tool that
    reads the file see the engine's order, and so the same figures.
    """
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for qid, hits in run.items():
            previous = math.inf
            for rank, (doc, score) in enumerate(hits, start=1):
                if math.isfinite(previous):
                    score = min(float(score), previous - max(abs(previous), 1e-30) * TIE_STEP)
                previous = score
                f.write(f"{qid} Q0 {doc} {rank} {score!r} {tag}\n")
    return path


def run_path(path: str | Path, mode: str, several: bool) -> Path:
    """``run.trec`` for one mode; ``run.hybrid.trec`` etc. when several modes are written."""
    path = Path(path)
    if not several:
        return path
    return (
        path.with_name(f"{path.stem}.{mode}{path.suffix}")
        if path.suffix
        else path.with_name(f"{path.name}.{mode}")
    )


class PlotUnavailable(Unavailable, RuntimeError):
    """A plot was asked for but matplotlib (the ``plot`` extra) is not installed."""


def require_matplotlib() -> None:
    """PlotUnavailable unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'pubmed-search[plot]'") from e


def plot_recall(report: EvalReport, path: str | Path) -> Path:
    """Mean Recall@k for k = 1..min(k, 100), one line per mode, saved as an image."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for m in report.modes:
        if m.recall_curve:
            ks = range(1, len(m.recall_curve) + 1)
            r10 = m.metrics.get("Recall@10")
            label = m.mode if r10 is None else f"{m.mode} (R@10 {r10:.3f})"
            ax.plot(ks, m.recall_curve, label=label)
    ax.set_xlabel("k")
    ax.set_ylabel("mean Recall@k")
    ax.set_xscale("log")
    lowest = min((min(m.recall_curve) for m in report.modes if m.recall_curve), default=0.0)
    ax.set_ylim(max(0.0, math.floor((lowest - 0.05) * 10) / 10), 1.01)  # zoom near-ceiling runs
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(str(report.info.get("title", "Recall@k")))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
