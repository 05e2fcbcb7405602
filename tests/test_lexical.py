"""The Tantivy lexical index: exact BM25 against a brute force, filters, versions, resume."""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from pathlib import Path

import pytest

from indexer.filters import Filters
from indexer.lexical import DEFAULT_ANALYSIS, Analysis, LexicalIndex, query_terms, stage, write
from indexer.lexical.analysis import analyzer
from indexer.records import Article, MeshTerm, Section
from tests.fixtures.indexes import GLUE, JOURNALS, MESH, PUBTYPES, TOPICS

# Tantivy's document-length code (tantivy src/fieldnorm/code.rs, the Lucene scheme): lengths
# are stored as the largest table value not above them. The prefix covers our documents.
FIELD_NORMS = [*range(41), 42, 44, 46, 48, 50, 52, 54, 56, 60, 64, 68, 72, 76, 80, 84, 88]
FIELD_NORMS += [96, 104, 112, 120, 128, 136, 144, 152, 168, 184, 200, 216, 232, 248, 264, 280]
FIELD_NORMS += [312, 344, 376, 408, 440, 472, 504, 536]
K1, B = 1.2, 0.75


def _norm(length: int) -> int:
    assert length < FIELD_NORMS[-1]
    return FIELD_NORMS[bisect.bisect_right(FIELD_NORMS, length) - 1]


def make_articles(n: int, seed: int = 3) -> list[tuple[int, Article]]:
    """Synthetic articles with skewed term frequencies: some terms match most documents."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        vocab = TOPICS[topic] + TOPICS[rng.choice(topics)][:3]

        def words(k: int, vocab: list[str] = vocab) -> str:
            return " ".join(rng.choice(vocab) if rng.random() < 0.4 else rng.choice(GLUE)
                            for _ in range(k))  # fmt: skip

        journal, iso = rng.choice(JOURNALS)
        name, ui = MESH[topic]
        abstract = words(rng.choice([0, 5, 30, 60, 150, 300]))
        out.append(
            (
                i + 1,
                Article(
                    pmid=50_000 + i,
                    title=words(rng.randint(2, 14)),
                    sections=[Section(text=abstract)] if abstract else [],
                    journal=journal,
                    journal_iso=iso,
                    year=rng.choice([None, *range(1990, 2025)]),
                    mesh=[MeshTerm(name, ui, rng.random() < 0.5), MeshTerm("Humans", "D006801")],
                    publication_types=[rng.choice(PUBTYPES)],
                    authors=[f"Author{i % 50} A"],
                    languages=["eng"],
                ),
            )
        )
    return out


def build_lexical(
    path: Path,
    arts: list[tuple[int, Article]],
    analysis: Analysis = DEFAULT_ANALYSIS,
    published: Path | None = None,
    removed: tuple[int, ...] = (),
    first_new: int = 1,
    chunk: int = 500,
) -> LexicalIndex:
    stage(published, path, analysis)

    def rows(after: int, limit: int) -> list[tuple[int, Article]]:
        return [r for r in arts if r[0] > after and r[0] >= first_new][:limit]

    write(path, analysis, removed, first_new, rows, chunk=chunk)
    return LexicalIndex(path, analysis)


class BruteBM25:
    """BM25 as Tantivy defines it, computed over the same analysed tokens, per field."""

    def __init__(self, arts: list[tuple[int, Article]], analysis: Analysis) -> None:
        a = analyzer(analysis)
        self.analysis = analysis
        self.docs = {d: {"title": a.analyze(x.title), "abstract": a.analyze(x.abstract)}
                     for d, x in arts}  # fmt: skip
        self.n = len(self.docs)
        self.avg = {f: sum(len(t[f]) for t in self.docs.values()) / self.n
                    for f in ("title", "abstract")}  # fmt: skip
        self.df = {
            f: {t: sum(t in toks[f] for toks in self.docs.values()) for t in self._vocab(f)}
            for f in ("title", "abstract")
        }

    def _vocab(self, field: str) -> set[str]:
        return {t for toks in self.docs.values() for t in toks[field]}

    def score(self, doc_id: int, terms: list[str]) -> float:
        total = 0.0
        for field, boost in (("title", self.analysis.title_boost), ("abstract", 1.0)):
            toks = self.docs[doc_id][field]
            norm = _norm(len(toks))
            for t in terms:
                tf = toks.count(t)
                if not tf:
                    continue
                df = self.df[field][t]
                idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
                tf_part = tf / (tf + K1 * (1 - B + B * norm / self.avg[field]))
                total += boost * idf * (1 + K1) * tf_part
        return total

    def ranking(self, terms: list[str], keep=lambda d: True) -> list[tuple[int, float]]:
        scored = [(d, self.score(d, terms)) for d in self.docs if keep(d)]
        return sorted([x for x in scored if x[1] > 0], key=lambda x: (-x[1], x[0]))


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory):
    arts = make_articles(3000)
    index = build_lexical(tmp_path_factory.mktemp("lex") / "v1", arts)
    return arts, index, BruteBM25(arts, DEFAULT_ANALYSIS)


def _same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert len(got) == len(want)
    for (gd, gs), (wd, ws) in zip(got, want, strict=True):
        assert gs == pytest.approx(ws, rel=1e-5)
        if gd != wd:  # only documents of equal score may trade places
            assert gs == pytest.approx(dict(want).get(gd, -1.0), rel=1e-5)


QUERIES = [
    "the patients",  # stop words only: they are searched
    "asthma",
    "insulin glucose study",
    "carcinoma metastasis results stroke",
    "patients with myocardial infarction and coronary stent",
]


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_equals_brute_force_on_every_match(collection, query: str):
    _, index, brute = collection
    terms = query_terms(query)
    want = brute.ranking(terms)
    assert len(want) > 2000 or query != "the patients"  # a common term: the old budget's case
    got, total = index.search(query, limit=len(want) + 10)
    assert total == len(want)
    _same_ranking(got, want)
    page, total2 = index.search(query, limit=7, offset=40)
    assert total2 == total
    _same_ranking(page, want[40:47])


def test_filtered_bm25_is_exact_among_passing_documents(collection):
    arts, index, brute = collection
    by_id = dict(arts)
    f = Filters(year_from=2000, year_to=2010, pubtype="review")

    def keep(d: int) -> bool:
        a = by_id[d]
        return a.year is not None and 2000 <= a.year <= 2010 and "Review" in a.publication_types

    want = brute.ranking(query_terms("insulin glucose study"), keep)
    got, total = index.search("insulin glucose study", limit=1000, filters=f)
    assert total == len(want) > 0
    _same_ranking(got, want)


def _matches(a: Article, f: Filters) -> bool:
    if f.year_from is not None and (a.year is None or a.year < f.year_from):
        return False
    if f.year_to is not None and (a.year is None or a.year > f.year_to):
        return False
    if f.journal and f.journal.lower() not in (a.journal.lower(), a.journal_iso.lower()):
        return False
    if f.mesh and not any(f.mesh.lower() in (m.name.lower(), (m.ui or "").lower())
                          for m in a.mesh):  # fmt: skip
        return False
    if f.pubtype and f.pubtype.lower() not in [p.lower() for p in a.publication_types]:
        return False
    return f.has_abstract is None or bool(a.abstract.strip()) == f.has_abstract


FILTERS = [
    Filters(year_from=2001),
    Filters(year_to=1995),
    Filters(year_from=2005, year_to=2005),
    Filters(journal="the lancet"),
    Filters(journal="J TEST"),
    Filters(mesh="asthma"),
    Filters(mesh="d009369"),
    Filters(mesh="Humans", pubtype="Randomized Controlled Trial"),
    Filters(has_abstract=False),
    Filters(has_abstract=True, journal="BMJ", year_from=2010),
    Filters(journal="no such journal"),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: str(f.as_dict()))
def test_filters_are_evaluated_exactly_by_the_engine(collection, f: Filters):
    arts, index, _ = collection
    want = sorted(d for d, a in arts if _matches(a, f) and a.embeddable)
    assert index.filter_ids(f).tolist() == want
    assert index.filter_count(f) == len(want)
    some = [d for d, _ in arts[::7]]
    assert index.matching(some, f).tolist() == sorted(set(some) & set(want))
    everything = sorted(d for d, a in arts if _matches(a, f))
    assert index.filter_ids(f, embeddable=False).tolist() == everything


def _digest(path: Path) -> dict[str, str]:
    files = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.endswith(".lock")]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_an_update_leaves_the_published_version_bit_identical(tmp_path: Path):
    arts = make_articles(600)
    v1 = build_lexical(tmp_path / "v1", arts)
    before_files = _digest(tmp_path / "v1")
    before = v1.search("insulin asthma study", limit=600)
    new = [(d + 600, a) for d, a in make_articles(50, seed=9)]
    removed = tuple(range(1, 40))
    v2 = build_lexical(tmp_path / "v2", arts + new, published=tmp_path / "v1",
                       removed=removed, first_new=601, chunk=100)  # fmt: skip
    assert _digest(tmp_path / "v1") == before_files
    assert LexicalIndex(tmp_path / "v1", DEFAULT_ANALYSIS).search("insulin asthma study",
                                                                   limit=600) == before  # fmt: skip
    assert v2.num_docs == 600 - len(removed) + 50
    visible = set(v2.filter_ids(Filters(), embeddable=False).tolist())
    assert visible == {d for d, _ in arts + new} - set(removed)
    # the two versions share their unchanged segment files (hard links), nothing is copied
    inodes = {p.stat().st_ino for p in (tmp_path / "v1").iterdir() if p.is_file()}
    assert inodes & {p.stat().st_ino for p in (tmp_path / "v2").iterdir() if p.is_file()}


class Killed(Exception):
    pass


def test_a_killed_write_resumes_to_the_same_index(tmp_path: Path):
    arts = make_articles(900)
    calls = {"n": 0}

    def rows(after: int, limit: int) -> list[tuple[int, Article]]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return [r for r in arts if r[0] > after][:limit]

    stage(None, tmp_path / "a", DEFAULT_ANALYSIS)
    with pytest.raises(Killed):
        write(tmp_path / "a", DEFAULT_ANALYSIS, [], 1, rows, chunk=200)
    assert LexicalIndex(tmp_path / "a", DEFAULT_ANALYSIS).num_docs == 400  # two commits
    stage(None, tmp_path / "a", DEFAULT_ANALYSIS)  # a re-run keeps the staged index
    added = write(tmp_path / "a", DEFAULT_ANALYSIS, [], 1, rows, chunk=200)
    assert added == 500
    resumed = LexicalIndex(tmp_path / "a", DEFAULT_ANALYSIS)
    whole = build_lexical(tmp_path / "b", arts, chunk=200)
    assert resumed.num_docs == whole.num_docs == 900
    for q in QUERIES:
        assert resumed.search(q, limit=900) == whole.search(q, limit=900)


def test_biomedical_tokens_match_themselves_not_their_digits(tmp_path: Path):
    texts = ["COVID-19 outcomes in adults", "IL-6 levels after SARS-CoV-2 infection",
             "BRCA1 and p53 in 5-HT signalling", "19% of 19 patients improved",
             "long-term follow-up", "covid19 vaccine uptake"]  # fmt: skip
    arts = [(i + 1, Article(pmid=i + 1, title=t)) for i, t in enumerate(texts)]
    index = build_lexical(tmp_path / "bio", arts)

    def found(q: str) -> set[int]:
        return {d for d, _ in index.search(q, limit=10)[0]}

    assert found("COVID-19") == {1, 6}  # the glued variant too
    assert found("19") == {4}
    assert found("il-6") == {2} and found("6") == set()
    assert found("SARS-CoV-2") == {2} and found("brca1") == {3} and found("P53") == {3}
    assert found("5-HT") == {3}
    assert found("long term") == {5}
    assert found('"covid-19" OR title:(x) AND ~*^') == {1, 6}  # user text is never syntax


def test_an_index_of_the_previous_format_is_refused_with_how_to_rebuild(
    tmp_path: Path, tiny_index: Path
):
    import json
    import shutil
    import subprocess
    import sys

    from indexer.manifest import IndexDir, IndexFormatError
    from tests.fixtures.common import REPO

    old = tmp_path / "old"
    shutil.copytree(tiny_index, old)
    idx = IndexDir(old)
    path = idx.version_dir(idx.current_version()) / "manifest.json"
    data = json.loads(path.read_text())
    data["format_version"] = 1
    data.pop("lexical")
    path.write_text(json.dumps(data))
    shutil.rmtree(idx.lexical_path(idx.current_version()))
    with pytest.raises(IndexFormatError, match="pubmed-search build --index NEW_DIR"):
        idx.read_manifest()
    proc = subprocess.run(
        [sys.executable, "-m", "pubmed_search.cli", "info", "--index", str(old)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "index format 1" in lines[0]


def _segment_files(lexical: Path) -> set[str]:
    """Every file name that the index's meta.json needs (its segments and their deletes)."""
    import json

    meta = json.loads((lexical / "meta.json").read_text())
    need = set()
    for seg in meta["segments"]:
        uid = seg["segment_id"].replace("-", "")
        need |= {p.name for p in lexical.glob(f"{uid}.*") if not p.name.endswith(".del")}
        if seg.get("deletes"):
            need.add(f"{uid}.{seg['deletes']['opstamp']}.del")
    return need


def test_old_versions_lexical_files_are_collected(tmp_path: Path, tiny_model_dir: Path):
    from indexer.build import build
    from indexer.manifest import IndexDir
    from tests.fixtures.indexes import synthetic_articles, write_jsonl
    from tests.test_build import settings_for

    base = synthetic_articles(40, seed=21)
    files = [write_jsonl(tmp_path / "base.jsonl", base)]
    for i in range(2):  # two updates: a revision and a deletion each, and new articles
        rows = [dict(base[i], version=2, title=f"Revised {i}"), {"delete": base[10 + i]["pmid"]}]
        rows += synthetic_articles(5, seed=30 + i, first_pmid=9000 + 10 * i)
        files.append(write_jsonl(tmp_path / f"update{i}.jsonl", rows))
    index_dir = tmp_path / "index"
    for f in files:
        build(index_dir, [f], settings_for(tiny_model_dir))
    idx = IndexDir(index_dir)
    assert idx.published_versions() == [2, 3]  # keep_versions=2: version 1 is gone
    assert not idx.version_dir(1).exists()
    for v in (2, 3):
        lexical = idx.lexical_path(v)
        on_disk = {p.name for p in lexical.iterdir() if p.is_file()}
        on_disk -= {"meta.json", ".managed.json", ".tantivy-meta.lock", ".tantivy-writer.lock"}
        assert on_disk == _segment_files(lexical)  # nothing orphaned, nothing missing
    reader = LexicalIndex(idx.lexical_path(3), DEFAULT_ANALYSIS)
    assert reader.num_docs == 40 - 2 + 10
    assert not (index_dir / ".build").exists()


def test_equal_scores_come_back_by_ascending_doc_id(tmp_path: Path):
    # 30 identical articles committed 3 at a time: Tantivy's merged segments return the tie
    # in segment-address order, which is not doc-id order
    arts = [(i, Article(pmid=100 + i, title="stent thrombosis")) for i in range(1, 31)]
    index = build_lexical(tmp_path / "a", arts, chunk=3)
    got, total = index.search("stent", 30)
    assert total == 30
    assert len({s for _, s in got}) == 1
    assert [d for d, _ in got] == list(range(1, 31))
    page, _ = index.search("stent", 7, filters=Filters(year_from=None))
    assert [d for d, _ in page] == sorted(d for d, _ in page)
