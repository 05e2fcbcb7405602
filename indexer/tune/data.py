"""Training data for `pubmed-search tune`: label-free (query, positive) pairs and hard negatives.

Pairs come from the user's own collection, no labels needed:

- an article with a title and an abstract gives ``title -> abstract``;
- an article without a title but with an abstract of at least two sentences gives an
  *inverse cloze* pair: one sentence (chosen with a per-PMID seed) is the query and the rest
  of the abstract is the positive;
- with ``pairs="citations"`` or ``"both"``, a titled article that cites another article of
  the inputs (its ReferenceList) gives ``citing title -> cited title and abstract``: the link
  signal BioLinkBERT itself was pretrained on; at most :data:`CITES_PER_ARTICLE` such pairs
  per citing article (seeded choice). ``"citations"`` trains on those alone, ``"both"`` on
  both kinds.

Pairs are deterministic: the same inputs and seed give the same pairs in the same order,
whatever the file order (the latest revision of a PMID wins, deletions drop it). A fixed,
seeded fraction of the text pairs is held out for the before/after known-item evaluation and
never trained on; no citation pair touches a held-out article (as citing or cited).

Hard negatives ("bm25"): for each training pair, the best lexical match of its query that
is not its positive (nor a held-out article), either from an index's lexical index or
from an in-memory BM25 over the training positives; both split text into the same words
(``indexer.text``).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import PubmedSearchError
from indexer.records import Article, Deletion, Record
from indexer.text import terms

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
MIN_ICT_WORDS = 4
CITES_PER_ARTICLE = 3
PAIR_SOURCES = ("text", "citations", "both")


@dataclass(frozen=True, slots=True)
class Pair:
    """One training or evaluation example; ``kind`` is "title", "ict" or "cites" (``pmid``:
    the positive's article; ``query_pmid``: the citing article of a "cites" pair)."""

    query: str
    positive: str
    pmid: int
    kind: str
    negative: str | None = None
    negative_pmid: int | None = None
    query_pmid: int | None = None

    def to_list(self) -> list:
        return [
            *(self.query, self.positive, self.pmid, self.kind),
            *(self.negative, self.negative_pmid, self.query_pmid),
        ]

    @classmethod
    def from_list(cls, row: Sequence) -> Pair:
        return cls(*row)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _clean_title(title: str) -> str:
    t = title.strip()
    if t.startswith("[") and t.endswith(("].", "]")):  # translated titles: "[Title in English]."
        t = t[1:].rstrip(".").rstrip("]")
    return t.strip()


def make_pair(article: Article, seed: int) -> Pair | None:
    """The pair an article gives (see module docstring), or None when it gives none."""
    abstract = article.abstract.strip()
    if not abstract:
        return None
    title = _clean_title(article.title)
    if title:
        return Pair(title, abstract, article.pmid, "title")
    sentences = split_sentences(abstract)
    candidates = [i for i, s in enumerate(sentences) if len(s.split()) >= MIN_ICT_WORDS]
    if len(sentences) < 2 or not candidates:
        return None
    pick = random.Random(f"{seed}:{article.pmid}").choice(candidates)
    rest = " ".join(s for i, s in enumerate(sentences) if i != pick)
    return Pair(sentences[pick], rest, article.pmid, "ict")


def latest_articles(
    records: Iterable[Record], exclude_pmids: Iterable[int] = ()
) -> dict[int, Article]:
    """The latest revision of every PMID of ``records`` (deleted PMIDs dropped), by PMID.

    Memory grows with the collection (~1-2 KB an article); cap the training set with
    ``select`` rather than by reading fewer records.
    """
    excluded = {int(p) for p in exclude_pmids}
    latest: dict[int, Article] = {}
    for record in records:
        if isinstance(record, Deletion):
            latest.pop(record.pmid, None)
        elif record.pmid not in excluded:
            seen = latest.get(record.pmid)
            if seen is None or seen.version <= record.version:
                latest[record.pmid] = record
    return dict(sorted(latest.items()))


def collect_pairs(
    records: Iterable[Record], seed: int = 0, exclude_pmids: Iterable[int] = ()
) -> list[Pair]:
    """All text pairs of ``records`` (latest revision per PMID; deleted PMIDs dropped), by PMID."""
    articles = latest_articles(records, exclude_pmids)
    return [p for a in articles.values() if (p := make_pair(a, seed)) is not None]


def citation_pairs(
    articles: dict[int, Article], seed: int, avoid: Iterable[int] = ()
) -> list[Pair]:
    """``citing title -> cited title and abstract`` pairs among ``articles`` (see the module
    docstring), by citing PMID; none touches a PMID of ``avoid``."""
    avoided = {int(p) for p in avoid}
    out = []
    for pmid, a in articles.items():
        title = _clean_title(a.title)
        if not title or pmid in avoided:
            continue
        cited = [
            c
            for c in dict.fromkeys(a.references)
            if c != pmid and c not in avoided and c in articles and articles[c].abstract.strip()
        ]
        if len(cited) > CITES_PER_ARTICLE:
            cited = sorted(random.Random(f"{seed}:cites:{pmid}").sample(cited, CITES_PER_ARTICLE))
        for c in cited:
            out.append(Pair(title, articles[c].embed_text(), c, "cites", query_pmid=pmid))
    return out


def holdout_size(n: int, fraction: float, minimum: int = 50, maximum: int = 2000) -> int:
    """``fraction`` of ``n`` pairs, at least ``minimum`` when that leaves 80% for training."""
    want = max(math.ceil(fraction * n), min(minimum, n // 5))
    return int(min(want, maximum, max(0, n - 1)))


def select(
    pairs: Sequence[Pair],
    seed: int,
    holdout_fraction: float,
    max_pairs: int | None = None,
    holdout_min: int = 50,
    holdout_max: int = 2000,
) -> tuple[list[Pair], list[Pair]]:
    """(train, heldout): a seeded shuffle; the held-out pairs first, then at most ``max_pairs``
    training pairs. The two sets share no PMID."""
    order = list(pairs)
    random.Random(seed).shuffle(order)
    n_eval = holdout_size(len(order), holdout_fraction, holdout_min, holdout_max)
    heldout, train = order[:n_eval], order[n_eval:]
    if max_pairs is not None:
        train = train[:max_pairs]
    return train, heldout


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) over a list of texts, in memory (numpy postings)."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.n = len(texts)
        vocab: dict[str, int] = {}
        rows: list[tuple[int, int, int]] = []  # (term id, doc, tf)
        lengths = np.zeros(self.n, dtype=np.float32)
        for doc, text in enumerate(texts):
            counts: dict[int, int] = {}
            toks = terms(text)
            lengths[doc] = len(toks)
            for t in toks:
                tid = vocab.setdefault(t, len(vocab))
                counts[tid] = counts.get(tid, 0) + 1
            rows.extend((tid, doc, c) for tid, c in counts.items())
        self.vocab = vocab
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        arr = arr[np.lexsort((arr[:, 1], arr[:, 0]))]
        self._starts = np.searchsorted(arr[:, 0], np.arange(len(vocab) + 1))
        self._docs = arr[:, 1]
        df = np.diff(self._starts).astype(np.float64)
        self._idf = np.log1p((self.n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if self.n else 1.0
        tf = arr[:, 2].astype(np.float32)
        norm = k1 * (1 - b + b * lengths[self._docs] / max(avgdl, 1e-9))
        self._weights = tf * (k1 + 1) / (tf + norm)
        self._scores = np.zeros(self.n, dtype=np.float32)

    def top(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """Best ``k`` (doc index, score), best first; docs sharing no term are left out."""
        touched = []
        for t in set(terms(query)):
            tid = self.vocab.get(t)
            if tid is None:
                continue
            lo, hi = self._starts[tid], self._starts[tid + 1]
            docs = self._docs[lo:hi]
            self._scores[docs] += self._idf[tid] * self._weights[lo:hi]
            touched.append(docs)
        if not touched:
            return []
        docs = np.unique(np.concatenate(touched))
        scores = self._scores[docs].copy()
        self._scores[docs] = 0.0
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(docs[i]), float(scores[i])) for i in best]


def _with_negative(pair: Pair, text: str, pmid: int) -> Pair:
    return Pair(pair.query, pair.positive, pair.pmid, pair.kind, text, pmid)


def negatives_in_memory(train: Sequence[Pair], depth: int = 10) -> list[Pair]:
    """Each pair with the top BM25 hit among the other training positives (if any)."""
    bm25 = BM25([p.positive for p in train])
    out = []
    for pair in train:
        hit = next((i for i, _ in bm25.top(pair.query, depth) if train[i].pmid != pair.pmid), None)
        out.append(
            pair if hit is None else _with_negative(pair, train[hit].positive, train[hit].pmid)
        )
    return out


def negatives_from_index(
    train: Sequence[Pair], index_dir: str | Path, avoid_pmids: Iterable[int] = (), depth: int = 10
) -> list[Pair]:
    """Each pair with the top lexical hit of the published index in ``index_dir`` (its
    lexical index) that is neither the pair's own article nor one of ``avoid_pmids`` (the
    held-out set)."""
    from indexer.lexical import Analysis, LexicalIndex
    from indexer.manifest import IndexDir
    from indexer.store import Store

    idx = IndexDir(index_dir)
    manifest = idx.read_manifest()
    lexical = LexicalIndex(idx.lexical_path(manifest.version), Analysis.from_dict(manifest.lexical))
    store = Store(manifest.store_url or idx.default_store_url(), readonly=True)
    avoid = {int(p) for p in avoid_pmids}
    out = []
    try:
        for pair in train:
            hits, _ = lexical.search(pair.query, limit=depth)
            docs = store.get_docs([d for d, _ in hits]) if hits else {}
            chosen: Article | None = None
            for doc_id, _ in hits:
                stored = docs.get(doc_id)
                art = stored.article if stored is not None else None
                if art is None or art.pmid == pair.pmid or art.pmid in avoid:
                    continue
                if art.abstract.strip():  # negatives look like positives: abstracts
                    chosen = art
                    break
            if chosen is None:
                out.append(pair)
            else:
                out.append(_with_negative(pair, chosen.abstract.strip(), chosen.pmid))
    finally:
        store.close()
    return out


class NotEnoughPairs(PubmedSearchError, ValueError):
    """Too few training pairs for the settings asked (the message says which to change)."""


def prepare_data(
    inputs: Sequence[Path],
    cache: Path,
    *,
    seed: int,
    exclude_pmids: Iterable[int],
    holdout_fraction: float,
    max_pairs: int | None,
    min_train: int,
    hard_negatives: str,
    index_dir: str | None,
    pairs_from: str = "text",
) -> tuple[list[Pair], list[Pair]]:
    """(train, heldout) from ``cache`` if it exists, else from ``inputs`` (then cached)."""
    import json

    from indexer import durable
    from indexer.ingest.sources import SourceStats, iter_many

    if cache.exists():
        data = json.loads(cache.read_text())
        return [Pair.from_list(r) for r in data["train"]], [
            Pair.from_list(r) for r in data["heldout"]
        ]
    stats = SourceStats()
    articles = latest_articles(iter_many(inputs, stats), exclude_pmids)
    pairs = [p for a in articles.values() if (p := make_pair(a, seed)) is not None]
    train, heldout = select(pairs, seed, holdout_fraction, None)
    if pairs_from != "text":
        cites = citation_pairs(articles, seed, avoid=[p.pmid for p in heldout])
        if pairs_from == "citations" and len(cites) < min_train:
            raise NotEnoughPairs(
                f"only {len(cites)} citation pairs (a titled article citing an article with an "
                f"abstract, both in the inputs): at least one batch ({min_train}) is needed; "
                "use --pairs both, add inputs or lower --batch-size"
            )
        train = cites + train if pairs_from == "both" else cites
        random.Random(f"{seed}:train").shuffle(train)
    if max_pairs is not None:
        train = train[:max_pairs]
    if len(train) < min_train:
        raise NotEnoughPairs(
            f"only {len(train)} training pairs from {stats.articles} articles in the inputs "
            f"(titled articles with abstracts, or abstracts of 2+ sentences): at least one "
            f"batch ({min_train}) is needed; add inputs or lower --batch-size"
        )
    if hard_negatives == "bm25":
        avoid = [p.pmid for p in heldout]
        train = (
            negatives_from_index(train, index_dir, avoid)
            if index_dir
            else negatives_in_memory(train)
        )
    blob = {"train": [p.to_list() for p in train], "heldout": [p.to_list() for p in heldout]}
    durable.write_text(cache, json.dumps(blob))
    return train, heldout
