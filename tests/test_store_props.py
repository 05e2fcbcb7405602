"""Property tests for the store: the content hash, round trips, apply sequences vs a model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Deletion,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from indexer.store import ApplyResult, Store
from indexer.store.codec import compress, content_hash, decode, encode
from tests.test_store import art

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# ----------------------------------------------------------------------------- content hash


def article_strategy(texts: st.SearchStrategy[str], ints: st.SearchStrategy[int]):
    """Articles with every field of the complete citation (#17) drawn."""
    opt = st.none() | texts
    flags = st.booleans()
    quals = st.lists(st.builds(MeshQualifier, texts, opt, flags), max_size=2).map(tuple)
    return st.builds(
        Article,
        pmid=ints,
        version=ints,
        title=texts,
        sections=st.lists(st.builds(Section, texts, opt, opt), max_size=2),
        journal=texts,
        journal_iso=texts,
        year=st.none() | ints,
        authors=st.lists(texts, max_size=2),
        mesh=st.lists(st.builds(MeshTerm, texts, opt, flags, quals, st.none() | flags), max_size=2),
        publication_types=st.lists(texts, max_size=2),
        keywords=st.lists(texts, max_size=2),
        languages=st.lists(texts, max_size=2),
        doi=opt,
        vernacular_title=opt,
        abstract_source=st.sampled_from(["abstract", "other_abstract"]),
        author_details=st.lists(
            st.builds(
                AuthorDetail,
                texts,
                texts,
                texts,
                texts,
                st.lists(texts, max_size=2).map(tuple),
                opt,
            ),
            max_size=2,
        ),
        issn=opt,
        issn_type=opt,
        issn_linking=opt,
        nlm_unique_id=opt,
        volume=opt,
        issue=opt,
        pages=opt,
        pub_date=st.none()
        | st.builds(PubDate, st.none() | ints, st.none() | ints, st.none() | ints, opt, opt),
        article_date=opt,
        date_revised=opt,
        publication_status=opt,
        medline_status=opt,
        grants=st.lists(st.builds(Grant, opt, opt, opt, opt), max_size=2),
        chemicals=st.lists(st.builds(Chemical, texts, opt, opt), max_size=2),
        pmc=opt,
        references=st.lists(ints, max_size=3),
        comments_corrections=st.lists(
            st.builds(CommentCorrection, texts, st.none() | ints, texts), max_size=2
        ),
    )


# a tiny alphabet makes equal and nearly equal pairs common
tiny = article_strategy(st.sampled_from(["", "a", "b", "a b", ":", '"']), st.integers(1, 2))


@settings(max_examples=300)
@given(tiny, tiny)
def test_content_hash_is_equal_exactly_for_equal_content(a: Article, b: Article):
    assert (content_hash(a) == content_hash(b)) == (a.to_dict() == b.to_dict())


@given(article_strategy(st.text(max_size=30), st.integers(1, 10**9)))
def test_to_dict_and_from_dict_are_exact_inverses(a: Article):
    """Also through JSON (tuples travel as lists, parts as objects), and back to the same dict."""
    d = a.to_dict()
    assert Article.from_dict(d) == a
    through_json = json.loads(json.dumps(d))
    assert Article.from_dict(through_json) == a
    assert Article.from_dict(through_json).to_dict() == d


@given(article_strategy(st.text(max_size=30), st.integers(1, 10**9)))
def test_codec_round_trips_every_field(a: Article):
    digest, record = encode(a)
    assert decode(a.pmid, a.version, compress(record)) == a and digest == content_hash(a)


@given(article_strategy(st.text(max_size=30), st.integers(1, 10**9)))
def test_content_hash_is_stable(a: Article):
    copy = Article.from_dict(a.to_dict())
    assert content_hash(copy) == content_hash(a) and len(content_hash(a)) == 16


# ----------------------------------------------------------------------------- round trip

# any text: unicode beyond the BMP, NUL and control characters, empty strings
texts = st.text(max_size=40) | st.sampled_from(["", "\x00", "café 阿司匹林 😀", " \t\n"])
stored = article_strategy(texts, st.integers(1, 2**31 - 1))  # pmid_version is a 32-bit column


@pytest.fixture
def empty_store(store_url: str):
    s = Store(store_url)
    yield s
    s.close()


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(a=stored)
def test_any_article_round_trips(empty_store: Store, a: Article):
    store = empty_store
    _reset(store)
    assert store.apply([a], 1).added == 1
    got = store.doc_for_pmid(a.pmid, 1)
    assert got is not None and got.article == a and got.added_in == 1 and got.removed_in is None
    assert got.article.to_dict() == a.to_dict() and got.article.abstract == a.abstract
    assert store.get_docs([got.doc_id])[got.doc_id].article == a
    assert store.to_index(1, 0, 10) == [(got.doc_id, a)]
    assert store.to_embed(1, 0, 10) == ([(got.doc_id, a.embed_text())] if a.embeddable else [])
    counts = store.counts(1)
    assert counts == {"articles": 1, "embedded": int(a.embeddable),
                      "with_abstract": int(bool(a.abstract.strip()))}  # fmt: skip
    assert store.apply([Article.from_dict(a.to_dict())], 1).unchanged == 1


# ----------------------------------------------------------------------------- apply vs model


@dataclass
class Row:
    pmid: int
    hash: str
    version: int
    embeddable: bool
    added: int
    removed: int | None = None

    def visible(self, v: int) -> bool:
        return self.added <= v and (self.removed is None or self.removed > v)


@dataclass
class Model:
    """The documented semantics, written the simple way (one PMID at a time)."""

    rows: list[Row] = field(default_factory=list)

    def current(self, pmid: int, v: int) -> int | None:
        found = [i for i, r in enumerate(self.rows) if r.pmid == pmid and r.visible(v)]
        assert len(found) <= 1
        return found[0] if found else None

    def apply(self, batch: list, v: int) -> ApplyResult:
        res = ApplyResult()
        by_pmid: dict[int, list] = {}
        for rec in batch:
            by_pmid.setdefault(rec.pmid, []).append(rec)
        for pmid, recs in by_pmid.items():
            start = self.current(pmid, v)
            row = None if start is None else self.rows[start]
            cur = None if row is None else (row.hash, row.version, row.embeddable)
            for rec in recs:
                if isinstance(rec, Deletion):
                    res.deleted += cur is not None
                    res.missing_deletes += cur is None
                    cur = None
                elif cur is not None and cur[1] > rec.version:
                    res.older_skipped += 1
                elif cur is not None and cur[0] == content_hash(rec):
                    res.unchanged += 1
                else:
                    res.added += cur is None
                    res.replaced += cur is not None
                    res.not_embeddable += not rec.embeddable
                    cur = (content_hash(rec), rec.version, rec.embeddable)
            if row is not None and cur is not None and cur[0] == row.hash:
                continue  # ends where it started: nothing changes
            if row is not None:
                row.removed = v
            if cur is not None:
                self.rows.append(Row(pmid, *cur, added=v))
        return res


records = st.one_of(
    st.builds(
        lambda p, ver, variant: art(
            p,
            ver,
            "" if variant == 3 else f"title {variant}",
            "" if variant == 3 else f"abstract {variant} of {p}",
        ),
        st.integers(1, 6),
        st.integers(1, 3),
        st.integers(0, 3),
    ),
    st.builds(Deletion, st.integers(1, 7)),
)
steps = st.lists(
    st.one_of(
        st.just("publish"), st.tuples(st.lists(records, min_size=1, max_size=8), st.booleans())
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(steps=steps)
def test_apply_sequences_match_a_model(store_url: str, steps: list):
    store = Store(store_url)
    try:
        _reset(store)
        model, staging, id_of = Model(), 1, {}
        for step in steps:
            if step == "publish":
                staging += 1
                continue
            batch, reapply = step
            assert store.apply(batch, staging) == model.apply(batch, staging)
            if reapply:
                before = store.next_doc_id()
                assert store.apply(batch, staging) == model.apply(batch, staging)
                assert store.next_doc_id() == before  # nothing new was written
            _check(store, model, staging, id_of)
    finally:
        store.close()


def _reset(store: Store) -> None:
    """Empty the store between examples (one database per test, many examples)."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM articles")
        conn.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'next_doc_id'")


def _check(store: Store, model: Model, staging: int, id_of: dict[int, int]) -> None:
    for v in range(1, staging + 1):
        for pmid in range(1, 8):
            got = store.doc_for_pmid(pmid, v)
            i = model.current(pmid, v)
            assert (got is None) == (i is None), (pmid, v)
            if got is not None:
                assert content_hash(got.article) == model.rows[i].hash
                assert id_of.setdefault(i, got.doc_id) == got.doc_id  # a row keeps its id
        visible = [r for r in model.rows if r.visible(v)]
        counts = store.counts(v)
        assert counts["articles"] == len(visible)
        assert counts["embedded"] == sum(r.embeddable for r in visible)
    assert len(set(id_of.values())) == len(id_of)  # never two model rows on one doc id
    emb = [i for i, r in enumerate(model.rows) if r.visible(staging) and r.embeddable]
    assert sorted(store.visible_embedded_ids(staging).tolist()) == sorted(id_of[i] for i in emb)
    to_embed = {d for d, _ in store.to_embed(staging, 0, 1000)}
    added = {id_of[i] for i in emb if model.rows[i].added == staging}
    assert to_embed == added
    removed = [
        i
        for i, r in enumerate(model.rows)
        if r.removed == staging and r.added < staging and r.embeddable
    ]
    assert sorted(store.removed_doc_ids(staging).tolist()) == sorted(id_of[i] for i in removed)


def test_codec_derives_display_names_only_when_they_are_the_readers() -> None:
    """Stored once when ``authors`` are what the reader makes of ``author_details``; kept as
    given otherwise (a JSONL record may say anything)."""
    details = [AuthorDetail("Smith", "Jane", "JA"), AuthorDetail(collective="Group")]
    for authors in (["Smith JA", "Group"], ["Jane Smith", "The Group"]):
        a = Article(pmid=1, authors=authors, author_details=details)
        _, record = encode(a)
        assert decode(1, 1, compress(record)) == a
        listed = json.dumps(authors, separators=(",", ":")).encode() in record
        assert listed == (authors != ["Smith JA", "Group"])
