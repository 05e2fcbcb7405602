"""The metadata store on SQLite and PostgreSQL: MVCC apply, reads, filters, lexical search."""

from __future__ import annotations

import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from indexer.filters import Filters
from indexer.records import Article, Deletion, MeshTerm, Section
from indexer.store import ApplyResult, Store, StoreError

JOURNALS = [("The Lancet", "Lancet"), ("Nature Medicine", "Nat Med"), ("BMJ", "BMJ")]
MESH = [("Aspirin", "D001241"), ("Humans", "D006801"), ("Stroke", "D020521")]
PUBTYPES = ["Journal Article", "Review", "Randomized Controlled Trial"]


def art(pmid: int, version: int = 1, title: str | None = None, abstract: str = "", **kw) -> Article:
    """A synthetic article; ``abstract`` becomes one unlabelled section."""
    return Article(
        pmid=pmid,
        version=version,
        title=f"Article {pmid}" if title is None else title,
        sections=[Section(abstract)] if abstract else [],
        **kw,
    )


def corpus(n: int = 60, seed: int = 7) -> list[Article]:
    """Varied articles: years, journals, MeSH, publication types, some without abstract/text."""
    rng = random.Random(seed)
    words = "heart liver kidney tumour therapy trial outcome dose cohort risk".split()
    out = []
    for pmid in range(1, n + 1):
        journal, iso = rng.choice(JOURNALS)
        mesh = [
            MeshTerm(n, ui, rng.random() < 0.5) for n, ui in rng.sample(MESH, rng.randint(0, 2))
        ]
        body = " ".join(rng.choice(words) for _ in range(rng.randint(5, 30)))
        out.append(
            art(
                pmid,
                title="" if pmid % 17 == 0 else f"Study {pmid} of {rng.choice(words)}",
                abstract="" if pmid % 5 == 0 or pmid % 17 == 0 else body,
                journal=journal,
                journal_iso=iso,
                year=None if pmid % 13 == 0 else rng.randint(1990, 2020),
                mesh=mesh,
                publication_types=rng.sample(PUBTYPES, rng.randint(1, 2)),
                authors=[f"Author{pmid} A"],
                doi=f"10.1/{pmid}",
            )
        )
    return out


@pytest.fixture
def store(store_url: str):
    s = Store(store_url)
    yield s
    s.close()


def _ids(hits) -> set[int]:
    """Doc ids of lexical hits (scores use whole-index statistics, which staging rows move)."""
    return {d for d, _ in hits}


def visible_pmids(store: Store, pmids, version: int) -> dict[int, Article]:
    out = {}
    for p in pmids:
        d = store.doc_for_pmid(p, version)
        if d is not None:
            out[p] = d.article
    return out


# ----------------------------------------------------------------------------- writes


def test_insert_and_read_back(store: Store):
    arts = corpus(20)
    res = store.apply(arts, 1)
    assert res == ApplyResult(added=20, not_embeddable=sum(not a.embeddable for a in arts))
    assert store.backend in ("sqlite", "postgresql") and store.url
    visible = visible_pmids(store, range(1, 21), 1)
    assert visible == {a.pmid: a for a in arts}  # every field round-trips
    ids = store.visible_embedded_ids(1)
    assert ids.dtype == np.int64 and list(ids) == sorted(ids)
    docs = store.get_docs(ids)
    assert {d.article.pmid for d in docs.values()} == {a.pmid for a in arts if a.embeddable}
    assert all(d.added_in == 1 and d.doc_id in docs for d in docs.values())
    c = store.counts(1)
    assert c == {
        "articles": 20,
        "embedded": sum(a.embeddable for a in arts),
        "with_abstract": sum(bool(a.abstract) for a in arts),
    }
    assert store.doc_for_pmid(999, 1) is None
    assert store.get_docs([123456]) == {}
    assert store.counts(0)["articles"] == 0  # nothing was visible before version 1


def test_newer_version_replaces_older_row(store: Store):
    store.apply([art(1, 1, "Old title", "old text")], 1)
    old = store.doc_for_pmid(1, 1)
    res = store.apply([art(1, 2, "New title", "new text")], 2)
    assert res == ApplyResult(replaced=1)
    new = store.doc_for_pmid(1, 2)
    assert new.doc_id > old.doc_id and new.added_in == 2
    assert new.article.title == "New title" and new.article.version == 2
    assert store.doc_for_pmid(1, 1).article.title == "Old title"  # readers at 1 keep the old row
    assert list(store.removed_doc_ids(2)) == [old.doc_id]
    assert store.to_embed(2, 0, 10) == [(new.doc_id, "New title new text")]
    assert list(store.visible_embedded_ids(2)) == [new.doc_id]
    assert list(store.visible_embedded_ids(1)) == [old.doc_id]


def test_older_version_is_ignored(store: Store):
    store.apply([art(1, 3, "Version three")], 1)
    res = store.apply([art(1, 2, "Version two")], 2)
    assert res == ApplyResult(older_skipped=1)
    assert store.doc_for_pmid(1, 2).article.title == "Version three"
    assert store.removed_doc_ids(2).size == 0 and store.to_embed(2, 0, 10) == []


def test_same_version_with_changed_content_replaces(store: Store):
    store.apply([art(1, 1, "Typo titel")], 1)
    assert store.apply([art(1, 1, "Typo title")], 2) == ApplyResult(replaced=1)
    assert store.doc_for_pmid(1, 2).article.title == "Typo title"


def test_reapply_is_idempotent(store: Store):
    arts = corpus(15)
    batch = [*arts, Deletion(3), Deletion(999)]
    first = store.apply(batch, 1)
    assert first.deleted == 1 and first.missing_deletes == 1
    state = (store.next_doc_id(), store.counts(1), store.to_embed(1, 0, 100))
    again = store.apply(batch, 1)
    # pmid 3 is added and deleted again inside the batch, as the first time: no row is written
    assert again == ApplyResult(unchanged=14, added=1, deleted=1, missing_deletes=1)
    assert (store.next_doc_id(), store.counts(1), store.to_embed(1, 0, 100)) == state
    later = store.apply(arts, 2)  # the same articles in the next version: unchanged except 3
    assert later.unchanged == 14 and later.added == 1
    assert store.removed_doc_ids(2).size == 0


def test_deletion_and_missing_deletes(store: Store):
    store.apply([art(1), art(2)], 1)
    d1 = store.doc_for_pmid(1, 1).doc_id
    res = store.apply([Deletion(1), Deletion(77)], 2)
    assert res == ApplyResult(deleted=1, missing_deletes=1)
    assert store.doc_for_pmid(1, 2) is None and store.doc_for_pmid(1, 1).doc_id == d1
    assert list(store.removed_doc_ids(2)) == [d1]
    assert store.apply([Deletion(1)], 2) == ApplyResult(missing_deletes=1)
    assert store.apply([Deletion(1)], 3) == ApplyResult(missing_deletes=1)
    assert store.counts(2)["articles"] == 1 and store.counts(1)["articles"] == 2


def test_same_pmid_inside_one_batch_is_applied_in_order(store: Store):
    batch = [
        art(1, 1, "a1"),
        art(1, 2, "a2"),  # later, newer: wins
        art(2, 1, "b1"),
        Deletion(2),  # deleted again in the same batch
        art(3, 2, "c2"),
        art(3, 1, "c1"),  # later but older: skipped
        art(4, 1, "d1"),
        art(4, 1, "d1"),  # identical: unchanged
    ]
    res = store.apply(batch, 1)
    assert res == ApplyResult(added=4, replaced=1, deleted=1, older_skipped=1, unchanged=1)
    got = {p: a.title for p, a in visible_pmids(store, range(1, 5), 1).items()}
    assert got == {1: "a2", 3: "c2", 4: "d1"}
    assert store.counts(1)["articles"] == 3
    assert [t for _, t in store.to_embed(1, 0, 10)] == ["a2", "c2", "d1"]


def test_revised_twice_in_one_build_is_visible_to_nobody(store: Store):
    store.apply([art(1, 1, "v1")], 1)
    first = store.doc_for_pmid(1, 1).doc_id
    store.apply([art(1, 2, "v2")], 2)
    middle = store.doc_for_pmid(1, 2).doc_id
    store.apply([art(1, 3, "v3")], 2)  # a later file of the same build
    last = store.doc_for_pmid(1, 2)
    assert last.article.title == "v3" and len({first, middle, last.doc_id}) == 3
    assert list(store.removed_doc_ids(2)) == [first]  # the middle row never reached FAISS
    assert [d for d, _ in store.to_embed(2, 0, 10)] == [last.doc_id]
    assert list(store.visible_embedded_ids(2)) == [last.doc_id]
    assert set(store.get_docs([middle])) == {middle}  # still stored until gc


def test_doc_ids_are_never_reused(store: Store):
    seen: set[int] = set()
    next_before = store.next_doc_id()
    for v in range(1, 5):
        store.apply([art(p, 1, f"rev {v} of {p}") for p in range(1, 6)] + [Deletion(6)], v)
        store.apply([art(6, 1, f"again {v}")], v)
        ids = set(store.visible_embedded_ids(v).tolist())
        assert not ids & seen
        seen |= ids
        if v >= 2:  # drop what no version >= v-1 can see: the rows of version v-2
            assert store.gc(v - 1) == (6 if v >= 3 else 0)
        nxt = store.next_doc_id()
        assert nxt > max(seen) and nxt > next_before
        next_before = nxt
    assert len(seen) == 4 * 6


def test_to_embed_pages_by_doc_id(store: Store):
    arts = [art(p, 1, f"Title {p}", f"Abstract {p}.") for p in range(1, 11)]
    arts.append(art(11, 1, "", ""))  # nothing to embed
    res = store.apply(arts, 1)
    assert res.not_embeddable == 1
    rows, after = [], 0
    while page := store.to_embed(1, after, 3):
        assert len(page) <= 3
        rows += page
        after = page[-1][0]
    assert [t for _, t in rows] == [a.embed_text() for a in arts[:10]]
    assert [d for d, _ in rows] == sorted(d for d, _ in rows)
    assert store.count_to_embed(1, 0) == 10 and store.count_to_embed(1, rows[4][0]) == 5
    assert store.to_embed(2, 0, 100) == []  # nothing was added at version 2


# ----------------------------------------------------------------------------- filters


def _matches(a: Article, f: Filters) -> bool:
    if f.year_from is not None and (a.year is None or a.year < f.year_from):
        return False
    if f.year_to is not None and (a.year is None or a.year > f.year_to):
        return False
    if f.journal and f.journal.lower() not in (a.journal.lower(), a.journal_iso.lower()):
        return False
    if f.mesh and not any(f.mesh.lower() in (m.name.lower(), (m.ui or "").lower()) for m in a.mesh):
        return False
    if f.pubtype and f.pubtype.lower() not in [p.lower() for p in a.publication_types]:
        return False
    return f.has_abstract is None or bool(a.abstract) == f.has_abstract


FILTER_CASES = [
    Filters(),
    Filters(year_from=2000),
    Filters(year_to=1999),
    Filters(year_from=2005, year_to=2005),
    Filters(year_from=2001, year_to=2010),
    Filters(journal="the lancet"),
    Filters(journal="NAT MED"),
    Filters(journal="Nature Medicine"),
    Filters(journal="no such journal"),
    Filters(mesh="aspirin"),
    Filters(mesh="D020521"),
    Filters(mesh="d006801"),
    Filters(pubtype="review"),
    Filters(pubtype="Randomized Controlled Trial"),
    Filters(has_abstract=True),
    Filters(has_abstract=False),
    Filters(year_from=2000, journal="Lancet", mesh="Humans"),
    Filters(pubtype="Journal Article", has_abstract=True, year_to=2015),
    Filters(mesh="stroke", pubtype="review", journal="bmj", year_from=1990, has_abstract=True),
]


def test_filters_match_a_reference(store: Store):
    arts = corpus(80)
    store.apply(arts, 1)
    assert sum(not a.embeddable for a in arts) == 4  # excluded from filter_doc_ids
    for f in FILTER_CASES:
        _check_filter(store, arts, f)


def _check_filter(store: Store, arts: list[Article], f: Filters) -> None:
    ids = store.filter_doc_ids(f, 1)
    docs = store.get_docs(ids)
    got = sorted(d.article.pmid for d in docs.values())
    expected = sorted(a.pmid for a in arts if a.embeddable and _matches(a, f))
    assert got == expected, f
    assert list(ids) == sorted(ids) and ids.dtype == np.int64
    assert store.count_filtered(f, 1) == len(expected)
    some = [
        *ids[::2].tolist(),
        *range(900, 905),
        *store.filter_doc_ids(Filters(), 1)[1::3].tolist(),
    ]
    assert store.match_doc_ids(some, f, 1).tolist() == sorted(set(some) & set(ids.tolist()))
    # lexical search honours the same filters
    hits, total = store.lexical_search("study heart liver therapy trial", 1, 200, filters=f)
    for doc in store.get_docs([d for d, _ in hits]).values():
        assert _matches(doc.article, f)
    assert total == len(hits)


def test_filters_see_only_the_readers_version(store: Store):
    store.apply([art(1, 1, "x", journal="BMJ", year=2000)], 1)
    store.apply([art(1, 2, "x", journal="Nature", year=2010)], 2)
    assert store.count_filtered(Filters(journal="bmj"), 1) == 1
    assert store.count_filtered(Filters(journal="bmj"), 2) == 0
    assert store.count_filtered(Filters(journal="nature", year_from=2010), 2) == 1
    assert store.count_filtered(Filters(journal="nature"), 1) == 0


# ----------------------------------------------------------------------------- lexical


def test_lexical_rare_term_ranks_first(store: Store):
    arts = [art(p, 1, f"Common trial {p}", "common outcome common cohort") for p in range(1, 30)]
    arts.append(art(100, 1, "A trial", "common outcome with thrombocytopenia in a cohort"))
    store.apply(arts, 1)
    hits, total = store.lexical_search("common thrombocytopenia", 1, 5)
    assert store.get_docs([hits[0][0]])[hits[0][0]].article.pmid == 100
    assert total == 30
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    hits, total = store.lexical_search("Thrombocytopenia!", 1, 5)
    assert total == 1 and len(hits) == 1


def test_lexical_title_hits_weigh_more(store: Store):
    filler = [art(p, 1, f"Filler {p}", "unrelated words only here") for p in range(1, 20)]
    a = art(50, 1, "Melanoma screening", "population study of adults in clinics")
    b = art(51, 1, "Population screening", "study of melanoma in adults at clinics")
    store.apply([*filler, a, b], 1)
    hits, _ = store.lexical_search("melanoma", 1, 5)
    assert [store.get_docs([d])[d].article.pmid for d, _ in hits] == [50, 51]


def test_lexical_pages_are_consistent(store: Store):
    store.apply(corpus(80), 1)
    query = "heart liver kidney"
    full, total = store.lexical_search(query, 1, 500)
    assert total == len(full) > 20
    pages = []
    for offset in range(0, total, 7):
        page, t = store.lexical_search(query, 1, 7, offset=offset)
        assert t == total
        pages += page
    assert [d for d, _ in pages] == [d for d, _ in full]
    assert store.lexical_search(query, 1, 7, offset=total) == ([], total)
    assert store.lexical_search(query, 1, 0) == ([], total)


HOSTILE = [
    '"unbalanced quote aspirin',
    "aspirin*",
    "-aspirin",
    "title:aspirin",
    "abstract : aspirin ^2",
    "NEAR(aspirin stroke, 2)",
    "aspirin AND NOT stroke OR (",
    "((aspirin",
    "aspirin))",
    "') OR 1=1 --",
    "'; DROP TABLE articles; --",
    "aspirin\x00stroke",
    "{title abstract}: aspirin",
    "a:b:c:d aspirin",
    "+aspirin +stroke",
    "aspirin & stroke | !heart",
    "aspirin <-> stroke",
    "café naïve Ärzte 阿司匹林 ℵ ²",
    "😀 aspirin 😀",
    "\u200b aspirin \ufeff",
    "a" * 5000,
    " ".join(["aspirin"] * 500),
]


def test_hostile_lexical_input_is_just_words(store: Store):
    store.apply(
        [
            art(1, 1, "Aspirin after stroke", "aspirin lowers recurrence"),
            art(2, 1, "Heart failure", "no antiplatelet drugs here"),
            art(3, 1, "Café naïve Ärzte", "阿司匹林 text"),
        ],
        1,
    )
    for query in HOSTILE:
        hits, total = store.lexical_search(query, 1, 10)
        assert total >= len(hits)
        pmids = {store.get_docs([d])[d].article.pmid for d, _ in hits}
        if "aspirin" in query.lower() and len(query) < 5000:
            assert 1 in pmids, query  # the operators were text: the word still matches
        if query.startswith("'"):  # an injection would return every row
            assert total == 0, query
    assert store.counts(1)["articles"] == 3  # nothing was dropped


def test_lexical_no_words_and_stopwords(store: Store):
    store.apply([art(1, 1, "The role of the liver", "it is what it is")], 1)
    for q in ["", "   ", "!!! ??? ...", '"" () * - :']:
        assert store.lexical_search(q, 1, 10) == ([], 0)
    hits, total = store.lexical_search("the role of", 1, 10)
    assert total == 1  # stopwords are dropped: "role" still matches
    hits, total = store.lexical_search("the of", 1, 10)  # only stopwords: never raises
    assert total == len(hits)
    if store.backend == "sqlite":  # FTS5 indexes stopwords; PostgreSQL's english config not
        assert total == 1


def test_lexical_sees_only_the_readers_version(store: Store):
    store.apply([art(1, 1, "Zebrafish fins"), art(2, 1, "Zebrafish hearts")], 1)
    store.apply([art(1, 2, "Medaka fins"), Deletion(2), art(3, 1, "Zebrafish eyes")], 2)

    def pmids(q, v):
        hits, total = store.lexical_search(q, v, 10)
        assert total == len(hits)
        return sorted(store.get_docs([d])[d].article.pmid for d, _ in hits)

    assert pmids("zebrafish", 1) == [1, 2]
    assert pmids("zebrafish", 2) == [3]
    assert pmids("medaka", 1) == [] and pmids("medaka", 2) == [1]


def test_lexical_budget_prunes_common_terms_and_windows(store_url: str):
    s = Store(store_url, lexical_budget=3)
    try:
        arts = [art(p, 1, f"Common {p}", "common words") for p in range(1, 11)]
        arts.append(art(11, 1, "Rare gem", "common and rare"))
        s.apply(arts, 1)
        hits, total = s.lexical_search("common rare", 1, 10)
        # "common" (df 11) does not fit the budget: the rare term alone selects candidates
        assert total == 1 and s.get_docs([hits[0][0]])[hits[0][0]].article.pmid == 11
        hits, total = s.lexical_search("common", 1, 10)
        # the only term is over budget: the 3 most recently added matches are ranked
        assert total == 3 == len(hits)
        newest = sorted(s.visible_embedded_ids(1).tolist())[-3:]
        assert sorted(d for d, _ in hits) == newest
        hits, total = s.lexical_search("common", 1, 10, Filters(year_from=1))
        assert (hits, total) == ([], 0)  # no year: filtered out before the window
        s.apply([art(p, 1, "Common staged", "common") for p in range(20, 30)], 2)
        hits, total = s.lexical_search("common", 1, 10)  # the window skips staged rows
        assert total == 3 and sorted(d for d, _ in hits) == newest
    finally:
        s.close()


# ----------------------------------------------------------------------------- MVCC, readers


def test_mvcc_reader_does_not_see_staging(store_url: str):
    w = Store(store_url)
    try:
        w.apply(corpus(30), 1)
        r = Store(store_url, readonly=True)

        def state():
            hits, total = r.lexical_search("heart therapy", 1, 100)
            return r.counts(1), r.filter_doc_ids(Filters(), 1).tolist(), _ids(hits), total

        snapshot = state()
        changes = [art(1, 2, "Entirely new heart therapy"), Deletion(2), Deletion(3)]
        changes += [art(p, 1, "New article about heart") for p in range(200, 210)]
        w.apply(changes, 2)  # staging version 2, not published yet
        assert state() == snapshot
        assert r.doc_for_pmid(1, 1).article.title != "Entirely new heart therapy"
        # "publish": the reader moves to version 2
        assert r.doc_for_pmid(1, 2).article.title == "Entirely new heart therapy"
        assert r.doc_for_pmid(2, 2) is None and r.counts(2)["articles"] == 30 - 2 + 10
        assert r.lexical_search("heart", 2, 100)[1] > 10
        r.close()
    finally:
        w.close()


def test_readonly_store_refuses_writes(store_url: str):
    Store(store_url).close()
    r = Store(store_url, readonly=True)
    try:
        with pytest.raises(StoreError):
            r.apply([art(1)], 1)
        with pytest.raises(StoreError):
            r.gc(1)
        with pytest.raises(SQLAlchemyError), r.engine.begin() as conn:
            conn.execute(text("DELETE FROM articles"))
    finally:
        r.close()


def test_sqlite_reader_works_while_a_writer_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    w = Store(url)
    w.apply(corpus(40), 1)
    r = Store(url, readonly=True)

    def state():
        hits, total = r.lexical_search("liver", 1, 50)
        return _ids(hits), total, r.filter_doc_ids(Filters(), 1).tolist()

    expected = state()
    stop, errors, versions = threading.Event(), [], []

    def write() -> None:
        try:
            v = 2
            while not stop.is_set() and v < 200:
                w.apply([art(p, v, f"liver rev {v}", "liver " * 50) for p in range(1, 60)], v)
                versions.append(v)
                v += 1
        except Exception as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=write)
    t.start()
    try:
        for _ in range(40):
            assert state() == expected
    finally:
        stop.set()
        t.join()
    assert not errors and versions
    v = versions[-1]
    assert r.doc_for_pmid(1, v).article.title == f"liver rev {v}"
    with pytest.raises(SQLAlchemyError), r.engine.begin() as conn:
        conn.execute(text("INSERT INTO meta VALUES ('x', 'y')"))
    r.close()
    w.close()


def test_concurrent_readers_from_threads(store_url: str):
    w = Store(store_url)
    w.apply(corpus(60), 1)
    r = Store(store_url, readonly=True)
    queries = ["heart", "liver kidney", "trial outcome", "dose", "risk cohort therapy"]
    fs = [Filters(), Filters(year_from=2000), Filters(mesh="aspirin"), Filters(journal="bmj")]

    def work(i: int):
        q, f = queries[i % len(queries)], fs[i % len(fs)]
        hits, total = r.lexical_search(q, 1, 20, filters=f)
        ids = r.filter_doc_ids(f, 1).tolist()
        docs = r.get_docs([d for d, _ in hits])
        return hits, total, ids, sorted(docs)

    expected = [work(i) for i in range(20)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(work, [i % 20 for i in range(160)]))
        assert got == [expected[i % 20] for i in range(160)]
    finally:
        r.close()
        w.close()


# ----------------------------------------------------------------------------- gc, errors


def test_gc_removes_superseded_rows_everywhere(store: Store):
    arts = corpus(20)
    store.apply(arts, 1)
    store.apply([dataclasses.replace(a, title=a.title + " revised") for a in arts[:5]], 2)
    store.apply([Deletion(6), Deletion(7)], 2)
    store.apply([dataclasses.replace(a, title=a.title + " again") for a in arts[:2]], 3)

    def state():
        hits, total = store.lexical_search("study", 3, 100)
        return store.counts(3), _ids(hits), total, store.filter_doc_ids(Filters(mesh="aspirin"), 3)

    before = state()
    old = store.doc_for_pmid(1, 1).doc_id
    assert store.gc(1) == 0  # nothing was removed at or before version 1
    assert store.gc(2) == 7  # 5 replaced + 2 deleted at version 2
    assert store.get_docs([old]) == {}
    assert store.gc(3) == 2 and store.gc(3) == 0
    after = state()
    assert after[:3] == before[:3] and list(after[3]) == list(before[3])
    with store.engine.connect() as conn:
        live = "SELECT doc_id FROM articles"
        for table in ("article_mesh", "article_pubtypes"):
            orphans = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE doc_id NOT IN ({live})")
            )
            assert orphans.scalar() == 0
        if store.backend == "sqlite":
            conn.exec_driver_sql(
                "INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')"
            )
            n = conn.exec_driver_sql(
                "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'revised'"
            )
            assert n.scalar() == 3  # pmids 3-5 (1-2 were revised again)


def test_open_errors(tmp_path):
    with pytest.raises(StoreError, match="no metadata store"):
        Store(f"sqlite:///{tmp_path / 'missing.sqlite'}", readonly=True)
    with pytest.raises(StoreError, match="unsupported"):
        Store("mysql://localhost/x")
    with pytest.raises(StoreError, match="file path"):
        Store("sqlite://")
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    s = Store(url)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    s.close()
    with pytest.raises(StoreError, match="schema version"):
        Store(url, readonly=True)
    bare = Store(str(tmp_path / "bare.sqlite"))  # a plain path means SQLite
    assert bare.backend == "sqlite" and bare.url.startswith("sqlite:///")
    bare.close()


def test_writer_upgrades_an_older_sqlite_store(tmp_path):
    """Stores of earlier builds indexed FTS rows by trigger and lacked the covering index."""
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    Store(url).close()
    with Store(url).engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN "
            "INSERT INTO articles_fts(rowid, title, abstract) "
            "VALUES (new.doc_id, new.title, new.abstract); END"
        )
        conn.exec_driver_sql("DROP INDEX ix_articles_vis")
    reader = Store(url, readonly=True)
    assert "INDEXED BY" not in reader._arts  # still readable without the index
    reader.close()
    s = Store(url)  # a writer drops the trigger and adds the index
    s.apply([art(1, 1, "Quokka census", "quokka counts")], 1)
    with s.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")
        triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        assert "articles_fts_ai" not in {r[0] for r in conn.exec_driver_sql(triggers)}
        sql = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'quokka'"
        assert conn.exec_driver_sql(sql).scalar() == 1
    assert s.lexical_search("quokka", 1, 5)[1] == 1 and "INDEXED BY" in s._arts
    s.close()


def test_apply_result_adds_up():
    a = ApplyResult(added=1, deleted=2, not_embeddable=1)
    b = ApplyResult(added=3, replaced=1, missing_deletes=4)
    assert a + b == ApplyResult(added=4, replaced=1, deleted=2, missing_deletes=4, not_embeddable=1)
    assert (a + b).as_dict()["missing_deletes"] == 4
