"""Per-index fusion calibration without labels: the build measures both sides on the
collection's own title/abstract pairs and records the best fusion in the manifest.

The pairs. Up to :data:`SAMPLE` articles that have a title of at least
:data:`MIN_TITLE_WORDS` words and an abstract are drawn from the version being built (seeded,
so a rebuild of the same collection draws the same ones). Each title is a query; its only
relevant document is its own article *without the title*: the indexed documents contain their
titles, and a title always finds itself (lexical and dense alike), which would measure
nothing. So, for this measurement only, the sampled articles are seen without their titles:

- *lexical*: a side index, the version's Tantivy files hard-linked (the build's own
  ``stage``: nothing of the version is written), with the sampled articles deleted and
  re-added under fresh doc ids with the title left out; each title is searched there. The
  rest of the collection, its statistics and its analysis are the real index's, so BM25
  scores are the ones queries will see (a deleted document keeps counting in the
  statistics until its segment merges, as in any update). The side index is deleted after.
- *dense*: the sampled articles' abstracts alone are encoded; each title's vector is
  searched in the version's FAISS index, the sampled articles' own (titled) vectors are
  dropped from the candidates and their abstract-only vectors scored exactly in their place.

Both sides thus rank the same collection, in which the sampled articles have lost their
titles; the other documents compete as indexed. A separate index of the sample alone would
have been cheaper but wrong: a few hundred documents give BM25 other statistics and the dense
side no distractors, and neither side would be scored as it is served.

The grid: method (:data:`indexer.fusion.METHODS`) x dense weight (:data:`DENSE_WEIGHTS`, the
lexical weight is one minus it), each scored by MRR@10 of the sampled titles over the top
:data:`indexer.fusion.DEPTH` candidates of each side. The grid holds lexical alone (dense
weight 0) and dense alone (1), so the recorded fusion is never worse than either side on the
pairs. Ties go to the weights nearest an even split, then to RRF (the earlier default). The
winner and every grid figure are recorded (``Fusion.calibration``), for queries of
:data:`MIN_TITLE_WORDS`+ words (``Fusion.min_words``): the pairs say nothing about shorter
queries, which keep equal-weight RRF. (Measured with MiniLM over 30,000 citations: the pairs
choose dense alone, MRR@10 0.77 vs lexical 0.23, which is right for long queries and wrong
for one- and two-word MeSH-name queries, where lexical leads dense 0.49 to 0.38 nDCG@10 and
RRF 1/1 beats both; see the README's quality section.)

Cost: encoding the sampled abstracts and titles plus one side-index commit (measured on the
shared 2-core machine: 38.5 s with MiniLM over 30,000 articles, whose build took 18.6 min;
84 s over 2,000 under load; 4 s with the tests' tiny BERT); a collection with fewer than
:data:`MIN_PAIRS` eligible articles is not calibrated (the default fusion is recorded, with the
reason). A build recalibrates on an index's first build, when the previous version recorded no
calibration, and when the collection has grown :data:`REGROW` times since the last one;
otherwise the previous fusion is kept.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from indexer.fusion import DEPTH, K_RRF, METHODS, Fusion, query_words
from indexer.lexical import Analysis, stage, write
from indexer.lexical.reader import LexicalIndex
from indexer.models.encoder import Encoder, EncoderConfig
from indexer.records import Article
from indexer.store.metadata import Store
from indexer.vectors.index import VectorIndex

log = logging.getLogger(__name__)

SAMPLE = 300
SEED = 0
MIN_PAIRS = 50
MIN_TITLE_WORDS = 4
DENSE_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
REGROW = 2.0
SIDE_NAME = "calibrate-lexical"
TOP = 10
_FETCH = 2000  # rows read from the store per sampling round


def needs_calibration(prev: Fusion | None, documents: int) -> bool:
    """Whether a build of a version holding ``documents`` should calibrate (see the module
    docstring): no previous calibration, or growth by :data:`REGROW` since it."""
    if prev is None or prev.chosen_by != "calibration":
        return True
    before = int(prev.calibration.get("documents") or 0)
    return documents >= REGROW * max(before, 1)


def sample_articles(
    store: Store, version: int, n: int = SAMPLE, seed: int = SEED
) -> tuple[list[tuple[int, Article]], int]:
    """Up to ``n`` (doc id, article) pairs visible at ``version`` with a title of
    :data:`MIN_TITLE_WORDS`+ words and an abstract, in a seeded random order; and how many
    rows were looked at."""
    ids = store.visible_embedded_ids(version)
    order = np.random.default_rng(seed).permutation(ids)
    out: list[tuple[int, Article]] = []
    looked = 0
    for start in range(0, len(order), _FETCH):
        chunk = [int(d) for d in order[start : start + _FETCH]]
        docs = store.get_docs(chunk)
        looked += len(chunk)
        for d in chunk:
            a = docs[d].article if d in docs else None
            if a is not None and query_words(a.title) >= MIN_TITLE_WORDS and a.abstract.strip():
                out.append((d, a))
                if len(out) == n:
                    return out, looked
    return out, looked


def _mrr(rankings: Sequence[Sequence[int]], targets: Sequence[int], top: int = TOP) -> float:
    total = 0.0
    for ranked, target in zip(rankings, targets, strict=True):
        for rank, d in enumerate(ranked[:top], start=1):
            if d == target:
                total += 1.0 / rank
                break
    return total / max(len(targets), 1)


def _dense_lists(
    index: VectorIndex, queries: np.ndarray, docs: np.ndarray, sample_ids: np.ndarray, fresh: int
) -> list[list[tuple[int, float]]]:
    """Per query: the top :data:`DEPTH` of the collection with the sampled articles' vectors
    replaced by their abstract-only ``docs`` (ids ``fresh + i``)."""
    scores, ids = index.search(queries, DEPTH + len(sample_ids))
    own = queries @ docs.T  # (queries, sampled abstracts)
    drop = set(sample_ids.tolist())
    out = []
    for qi in range(len(queries)):
        cands = [
            (int(d), float(s))
            for d, s in zip(ids[qi], scores[qi], strict=True)
            if d >= 0 and int(d) not in drop
        ]
        cands += [(fresh + j, float(s)) for j, s in enumerate(own[qi])]
        cands.sort(key=lambda item: (-item[1], item[0]))
        out.append(cands[:DEPTH])
    return out


def _lexical_lists(
    lexical_dir: Path,
    analysis: Analysis,
    work: Path,
    sample: list[tuple[int, Article]],
    fresh: int,
) -> list[list[tuple[int, float]]]:
    """Per title: its top :data:`DEPTH` in a side index where the sampled articles have no
    title (ids ``fresh + i``); the side index is removed afterwards."""
    shutil.rmtree(work, ignore_errors=True)
    try:
        stage(lexical_dir, work, analysis)
        untitled = [(fresh + i, replace(a, title="")) for i, (_, a) in enumerate(sample)]
        write(
            work,
            analysis,
            removed=[d for d, _ in sample],
            first_new=fresh,
            rows=lambda after, limit: [r for r in untitled if r[0] > after][:limit],
        )
        side = LexicalIndex(work, analysis)
        return [side.search(a.title, limit=DEPTH)[0] for _, a in sample]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grid(
    dense: Sequence[Sequence[tuple[int, float]]],
    lexical: Sequence[Sequence[tuple[int, float]]],
    targets: Sequence[int],
) -> dict[str, list[list[float]]]:
    """``{method: [[dense weight, MRR@10], ...]}`` over :data:`DENSE_WEIGHTS`."""
    out: dict[str, list[list[float]]] = {}
    pairs = list(zip(dense, lexical, strict=True))
    for method in METHODS:
        rows = []
        for w in DENSE_WEIGHTS:
            fusion = Fusion(method, w, round(1.0 - w, 1))
            fused = [[d for d, _ in fusion.fuse(ds, ls)] for ds, ls in pairs]
            rows.append([w, round(_mrr(fused, targets), 4)])
        out[method] = rows
    return out


def choose(figures: dict[str, list[list[float]]]) -> tuple[str, float, float]:
    """(method, dense weight, MRR@10) of the best grid cell; ties: nearest an even split, then
    the order of :data:`indexer.fusion.METHODS` (RRF first)."""
    cells = [(m, w, mrr) for i, m in enumerate(METHODS) for w, mrr in figures[m]]
    rank = {m: i for i, m in enumerate(METHODS)}
    return max(cells, key=lambda c: (c[2], -abs(c[1] - 0.5), -rank[c[0]]))


def calibrate(
    store: Store,
    version: int,
    lexical_dir: Path,
    analysis: Analysis,
    index: VectorIndex,
    encoder: Encoder,
    fresh_id: int,
    work: Path,
    query_encoder: Encoder | None = None,
    sample_size: int = SAMPLE,
    seed: int = SEED,
) -> Fusion:
    """The fusion to record for ``version`` (see the module docstring).

    ``lexical_dir``: the version's Tantivy directory (read, hard-linked, never written);
    ``fresh_id``: a doc id above every id of the version (the side copies' ids start there);
    ``work``: where the side index may live for the duration; ``query_encoder``: an
    asymmetric index's query model (None: ``encoder`` encodes the titles too).
    """
    started = time.monotonic()
    documents = int(index.ntotal)
    sample, looked = sample_articles(store, version, sample_size, seed)
    base: dict[str, Any] = {"documents": documents, "seed": seed, "looked_at": looked}
    if len(sample) < MIN_PAIRS:
        reason = (
            f"not calibrated: {len(sample)} articles with a title and an abstract, "
            f"{MIN_PAIRS} needed"
        )
        log.info("fusion: %s", reason)
        return Fusion(calibration={**base, "pairs": len(sample), "skipped": reason})
    titles = [a.title for _, a in sample]
    docs = encoder.encode([a.abstract for _, a in sample])
    queries = (query_encoder or encoder).encode(titles)
    sample_ids = np.array([d for d, _ in sample], dtype=np.int64)
    targets = [fresh_id + i for i in range(len(sample))]
    dense = _dense_lists(index, queries, docs, sample_ids, fresh_id)
    lexical = _lexical_lists(lexical_dir, analysis, work, sample, fresh_id)
    figures = grid(dense, lexical, targets)
    method, w, mrr = choose(figures)
    record = {
        **base,
        "pairs": len(sample),
        "metric": "MRR@10",
        "mrr10": mrr,
        "lexical_mrr10": _mrr([[d for d, _ in r] for r in lexical], targets),
        "dense_mrr10": _mrr([[d for d, _ in r] for r in dense], targets),
        "grid": figures,
        "seconds": round(time.monotonic() - started, 1),
    }
    fusion = Fusion(
        method, w, round(1.0 - w, 1), K_RRF, DEPTH, "calibration", record, MIN_TITLE_WORDS
    )
    log.info("fusion calibrated on %d pairs: %s, MRR@10 %.4f", len(sample), fusion.describe(), mrr)
    return fusion


def build_fusion(
    store: Store,
    version: int,
    lexical_dir: Path,
    analysis: Analysis,
    index: VectorIndex,
    encoder: Encoder,
    build_dir: Path,
    previous: Fusion | None,
    enabled: bool = True,
    query_config: EncoderConfig | None = None,
) -> Fusion:
    """What a build records for ``version``: the previous fusion while it still holds (see
    :func:`needs_calibration`), else a new calibration; ``enabled=False`` (``--no-calibrate``):
    the previous fusion, or the default with that reason. ``query_config``: an asymmetric
    index's query model (loaded only to calibrate)."""
    if not enabled:
        return previous or Fusion(calibration={"skipped": "calibration disabled (--no-calibrate)"})
    if previous is not None and not needs_calibration(previous, int(index.ntotal)):
        return previous
    fresh = store.next_doc_id()
    work = build_dir / SIDE_NAME
    query_encoder = Encoder.load(query_config) if query_config is not None else None
    return calibrate(
        store, version, lexical_dir, analysis, index, encoder, fresh, work, query_encoder
    )
