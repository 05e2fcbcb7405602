"""The metadata store on SQLite and PostgreSQL: MVCC apply, reads, to_index, gc, schema."""

from __future__ import annotations

import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from indexer.records import Article, Deletion, MeshTerm, Section
from indexer.store import ApplyResult, Store, StoreError
from indexer.store.engine import StoreDamaged

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


# ----------------------------------------------------------------------------- to_index


def test_to_index_pages_every_row_added_and_visible(store: Store):
    arts = [art(p, 1, f"Title {p}", f"Abstract {p}.") for p in range(1, 8)]
    arts += [art(8, 1, "", ""), art(9, 1, "", "")]  # not embeddable: indexed all the same
    store.apply(arts, 1)
    rows, after = [], 0
    while page := store.to_index(1, after, 2):
        assert len(page) <= 2
        rows += page
        after = page[-1][0]
    assert [d for d, _ in rows] == sorted(d for d, _ in rows)
    assert [a for _, a in rows] == arts  # every field, non-embeddable rows included
    assert {d for d, _ in rows} == set(store.get_docs(d for d, _ in rows))
    assert store.to_index(1, rows[-1][0], 10) == []
    assert store.to_index(1, rows[2][0], 3) == rows[3:6]
    assert store.to_index(1, 0, 0) == [] and store.to_index(2, 0, 10) == []
    assert len(rows) == store.counts(1)["articles"] > len(store.to_embed(1, 0, 100))


def test_to_index_sees_only_rows_of_the_version(store: Store):
    store.apply([art(1, 1, "a1"), art(2, 1, "b1"), art(3, 1, "c1")], 1)
    first = {a.pmid: d for d, a in store.to_index(1, 0, 10)}
    store.apply([art(1, 2, "a2"), Deletion(2), art(4, 1, "d1")], 2)
    store.apply([art(4, 2, "d2"), art(5, 1, "e1"), Deletion(5)], 2)  # same build, later file
    rows = store.to_index(2, 0, 10)
    # c1 (added at 1) is not re-indexed; d1 and e1 were added and removed in version 2
    assert [(a.pmid, a.title) for _, a in rows] == [(1, "a2"), (4, "d2")]
    assert [a.title for _, a in store.to_index(1, 0, 10)] == ["a1", "b1", "c1"]  # unchanged
    d1 = next(d for d in store.get_docs(range(1, 20)).values() if d.article.title == "d1")
    assert d1.added_in == 2 and d1.removed_in == 2
    # removed_ids: every row marked at 2, also the one added at 2 (the index may hold it)
    assert store.removed_ids(2).tolist() == sorted([first[1], first[2], d1.doc_id])
    assert store.removed_doc_ids(2).tolist() == sorted([first[1], first[2]])
    assert store.removed_ids(2).dtype == np.int64
    assert store.removed_ids(1).size == 0 and store.removed_ids(3).size == 0


def test_removed_ids_include_non_embeddable_rows(store: Store):
    store.apply([art(1, 1, "", ""), art(2, 1, "Has text")], 1)
    empty = store.doc_for_pmid(1, 1).doc_id
    store.apply([Deletion(1), art(2, 2, "Revised")], 2)
    old = store.doc_for_pmid(2, 1).doc_id
    assert store.removed_ids(2).tolist() == [empty, old]
    assert store.removed_doc_ids(2).tolist() == [old]  # FAISS never held the empty one
    assert store.gc(2) == 2 and store.removed_ids(2).size == 0


# ----------------------------------------------------------------------------- MVCC, readers


def _reader_state(r: Store, version: int) -> tuple:
    """What a reader at ``version`` sees (its rows and their contents)."""
    ids = r.visible_embedded_ids(version).tolist()
    docs = r.get_docs(ids)
    return r.counts(version), ids, [(d, docs[d].article.title) for d in ids]


def test_mvcc_reader_does_not_see_staging(store_url: str):
    w = Store(store_url)
    try:
        w.apply(corpus(30), 1)
        r = Store(store_url, readonly=True)
        snapshot = _reader_state(r, 1)
        changes = [art(1, 2, "Entirely new heart therapy"), Deletion(2), Deletion(3)]
        changes += [art(p, 1, "New article about heart") for p in range(200, 210)]
        w.apply(changes, 2)  # staging version 2, not published yet
        assert _reader_state(r, 1) == snapshot
        assert r.doc_for_pmid(1, 1).article.title != "Entirely new heart therapy"
        # "publish": the reader moves to version 2
        assert r.doc_for_pmid(1, 2).article.title == "Entirely new heart therapy"
        assert r.doc_for_pmid(2, 2) is None and r.counts(2)["articles"] == 30 - 2 + 10
        assert len(r.to_index(2, 0, 100)) == 11
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
    expected = _reader_state(r, 1)
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
            assert _reader_state(r, 1) == expected
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
    w.apply([art(p, 2, f"Revised {p}") for p in range(1, 20)], 2)
    r = Store(store_url, readonly=True)

    def work(i: int):
        v = 1 + i % 2
        pmids = range(1 + i % 7, 61, 7)
        docs = {p: d.doc_id for p in pmids if (d := r.doc_for_pmid(p, v))}
        got = r.get_docs(docs.values())
        return _reader_state(r, v), docs, sorted((d, a.article.title) for d, a in got.items())

    expected = [work(i) for i in range(20)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(work, [i % 20 for i in range(160)]))
        assert got == [expected[i % 20] for i in range(160)]
    finally:
        r.close()
        w.close()


# ----------------------------------------------------------------------------- gc, errors


def test_gc_removes_superseded_rows(store: Store):
    arts = corpus(20)
    store.apply(arts, 1)
    store.apply([dataclasses.replace(a, title=a.title + " revised") for a in arts[:5]], 2)
    store.apply([Deletion(6), Deletion(7)], 2)
    store.apply([dataclasses.replace(a, title=a.title + " again") for a in arts[:2]], 3)
    before = _reader_state(store, 3)
    old = store.doc_for_pmid(1, 1).doc_id
    assert store.gc(1) == 0  # nothing was removed at or before version 1
    assert store.gc(2) == 7  # 5 replaced + 2 deleted at version 2
    assert store.get_docs([old]) == {}
    assert store.gc(3) == 2 and store.gc(3) == 0
    assert _reader_state(store, 3) == before
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM articles WHERE removed_in IS NOT NULL"))
        assert n.scalar() == 0


def test_store_keeps_only_lean_columns(store: Store):
    """Each text once, in the compressed record; no filter tables or full-text objects."""
    store.apply(corpus(5), 1)
    with store.engine.connect() as conn:
        cols = [c["name"] for c in inspect(conn).get_columns("articles")]
        assert set(inspect(conn).get_table_names()) == {"meta", "articles"}
        h, data = conn.execute(text("SELECT content_hash, data FROM articles")).first()
    assert cols == [
        "doc_id", "pmid", "pmid_version", "added_in", "removed_in", "content_hash",
        "embeddable", "has_abstract", "data",
    ]  # fmt: skip
    assert len(bytes(h)) == 16
    assert b"Study" not in bytes(data)  # compressed, not plain text


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
    for readonly in (True, False):
        with pytest.raises(StoreDamaged, match=r"schema version '999'.*newer pubmed-search"):
            Store(url, readonly=readonly)
    bare = Store(str(tmp_path / "bare.sqlite"))  # a plain path means SQLite
    assert bare.backend == "sqlite" and bare.url.startswith("sqlite:///")
    bare.close()


SCHEMA_1 = [
    "CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '1'), ('next_doc_id', '3')",
    "CREATE TABLE articles (doc_id BIGINT PRIMARY KEY, pmid BIGINT NOT NULL, "
    "pmid_version INTEGER NOT NULL, added_in INTEGER NOT NULL, removed_in INTEGER, "
    "content_hash VARCHAR(64) NOT NULL, title TEXT NOT NULL, abstract TEXT NOT NULL, "
    "sections TEXT NOT NULL, journal_lower TEXT NOT NULL)",
    "CREATE TABLE article_mesh (doc_id BIGINT NOT NULL, name_lower TEXT NOT NULL)",
]
"""The parts of a schema-1 store (pubmed-search before lean rows) that matter here."""


def test_a_schema_1_store_must_be_rebuilt(store_url: str):
    from sqlalchemy import create_engine

    engine = create_engine(store_url)
    with engine.begin() as conn:
        for ddl in SCHEMA_1:
            conn.exec_driver_sql(ddl)
    engine.dispose()
    for readonly in (True, False):
        with pytest.raises(StoreDamaged) as e:
            Store(store_url, readonly=readonly)
        msg = str(e.value)
        assert "schema version 1" in msg and "older pubmed-search" in msg
        assert "must be rebuilt" in msg and "pubmed-search build --index NEW_DIR INPUT" in msg
        assert e.value.exit_code == 3  # DamagedIndex
    engine = create_engine(store_url)
    with engine.connect() as conn:  # the refused writer created or changed nothing
        assert set(inspect(conn).get_table_names()) == {"meta", "articles", "article_mesh"}
        assert [c["name"] for c in inspect(conn).get_columns("articles")][-1] == "journal_lower"
    engine.dispose()


def test_apply_result_adds_up():
    a = ApplyResult(added=1, deleted=2, not_embeddable=1)
    b = ApplyResult(added=3, replaced=1, missing_deletes=4)
    assert a + b == ApplyResult(added=4, replaced=1, deleted=2, missing_deletes=4, not_embeddable=1)
    assert (a + b).as_dict()["missing_deletes"] == 4
