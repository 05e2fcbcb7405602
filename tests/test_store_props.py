"""Property tests for the store: arbitrary query text, and apply sequences against a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.filters import Filters
from indexer.records import Article, Deletion, MeshTerm, Section
from indexer.store import ApplyResult, Store
from indexer.store.rows import encode
from tests.test_store import art, corpus

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# ----------------------------------------------------------------------------- content hash


def content_hash(a: Article) -> str:
    """The hash the store keeps for ``a``: what ``Store.apply`` compares."""
    return encode(a)[0]


def article_strategy(texts: st.SearchStrategy[str], ints: st.SearchStrategy[int]):
    opt = st.none() | texts
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
        mesh=st.lists(st.builds(MeshTerm, texts, opt, st.booleans()), max_size=2),
        publication_types=st.lists(texts, max_size=2),
        keywords=st.lists(texts, max_size=2),
        language=texts,
        doi=opt,
    )


# a tiny alphabet makes equal and nearly equal pairs common
tiny = article_strategy(st.sampled_from(["", "a", "b", "a b", ":", '"']), st.integers(1, 2))


@settings(max_examples=300)
@given(tiny, tiny)
def test_content_hash_is_equal_exactly_for_equal_content(a: Article, b: Article):
    assert (content_hash(a) == content_hash(b)) == (a.to_dict() == b.to_dict())


@given(article_strategy(st.text(max_size=30), st.integers(1, 10**9)))
def test_content_hash_is_stable(a: Article):
    copy = Article.from_dict(a.to_dict())
    assert content_hash(copy) == content_hash(a) and len(content_hash(a)) == 32


# ----------------------------------------------------------------------------- query text

FRAGMENTS = [
    '"', "'", "NEAR(", "NEAR", "*", "-", "^", "title:", "abstract:", "AND", "OR", "NOT", "(",
    ")", "{", "}", ":", "+", "&", "|", "!", "<->", ";", "--", "\\", "%", "_", "\x00", "1=1",
    "heart", "liver", "kidney", "trial", "the", "of", "café", "阿司匹林", "😀", " ",
]  # fmt: skip
queries = st.text(max_size=120) | st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@pytest.fixture
def searchable(store_url: str):
    """A store with version 1 published and version 2 staged (invisible rows at 1)."""
    s = Store(store_url)
    s.apply(corpus(60), 1)
    s.apply([art(p, 2, "heart liver revision", "kidney trial") for p in range(1, 20)], 2)
    r = Store(store_url, readonly=True)
    yield r, _all_visible(s, 1)
    r.close()
    s.close()


def _all_visible(s: Store, version: int) -> set[int]:
    return {d.doc_id for p in range(1, 61) if (d := s.doc_for_pmid(p, version))}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(q=queries, year=st.none() | st.integers(1985, 2025))
def test_any_query_text_gives_consistent_results(searchable, q: str, year: int | None):
    store, visible = searchable
    hits, total = store.lexical_search(q, 1, 10)
    ids = [d for d, _ in hits]
    scores = [s for _, s in hits]
    assert len(hits) <= 10 and total >= len(hits) and len(set(ids)) == len(ids)
    assert scores == sorted(scores, reverse=True)
    assert set(ids) <= visible  # never a row of the staging version
    more, total2 = store.lexical_search(q, 1, 10, offset=10)
    assert total2 == total and not set(ids) & {d for d, _ in more}
    assert len(hits) + len(more) == min(total, 20)
    _, filtered = store.lexical_search(q, 1, 10, filters=Filters(year_from=year))
    assert filtered <= total
    assert store.lexical_search(q, 1, 10) == (hits, total)  # deterministic


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
        for table in ("article_mesh", "article_pubtypes", "articles"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
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
