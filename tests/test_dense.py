"""search.dense on real FAISS indexes and vector files over synthetic vectors."""

from __future__ import annotations

import numpy as np
import pytest

import search.dense as dense
from indexer.vectors import VectorFile, VectorIndex, is_lossy
from search.dense import dense_top, exact_top, post_filtered_top

DIM = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """2,000 clustered unit vectors at doc ids 1..2000, in a VectorFile."""
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((20, DIM))
    x = centers[rng.integers(0, 20, 2000)] + 0.5 * rng.standard_normal((2000, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(1, 2001, dtype=np.int64)
    vf = VectorFile(tmp_path_factory.mktemp("vec") / "vectors.f16", DIM)
    vf.write(ids, x)
    vf.flush()
    q = x[rng.integers(0, 2000, 8)] + 0.3 * rng.standard_normal((8, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)  # queries near the data, as real ones are
    return ids, x, vf, q


def truth(vf, ids, q, n):
    """Exact top-n by a full sort of the fp16-stored vectors (ties by id)."""
    s = vf.read(ids) @ q
    order = np.lexsort((ids, -s))[:n]
    return [int(i) for i in ids[order]], s[order]


def build(factory: str, ids, x) -> VectorIndex:
    index = VectorIndex.create(DIM, factory)
    if index.needs_training:
        index.train(x)
    index.add(ids, x)
    return index


def test_exact_top_matches_a_full_sort_across_chunks(data, monkeypatch) -> None:
    ids, _, vf, q = data
    monkeypatch.setattr(dense, "EXACT_CHUNK", 97)  # many chunks, ragged last one
    for n in (1, 10, 150, 2000, 5000):
        got = exact_top(vf, ids, q[0], n)
        want_ids, want_s = truth(vf, ids, q[0], n)
        assert [d for d, _ in got] == want_ids
        assert np.allclose([s for _, s in got], want_s, atol=1e-6)
    assert exact_top(vf, ids[:0], q[0], 10) == []


class ShortIndex:
    """An 'approximate index' that finds only its first few neighbours (ids -1 beyond)."""

    factory = "IVF4,Flat"

    def __init__(self, inner: VectorIndex, keep: int) -> None:
        self.inner, self.keep = inner, keep
        self.ntotal = inner.ntotal
        self.calls = 0

    def search(self, q, k, subset_ids=None, **kw):
        self.calls += 1
        scores, ids = self.inner.search(q, k, subset_ids=subset_ids)
        ids[:, self.keep :] = -1
        scores[:, self.keep :] = -np.inf
        return scores, ids


def test_short_approximate_results_fall_back_to_exact(data) -> None:
    ids, x, vf, q = data
    short = ShortIndex(build("IDMap2,Flat", ids, x), keep=3)
    got = dense_top(short, vf, q[1], 10, all_ids=lambda: ids)
    assert short.calls == 1
    assert [d for d, _ in got] == truth(vf, ids, q[1], 10)[0]
    subset = ids[ids % 3 == 0]  # 666 ids, above a zero threshold: FAISS first, then exact
    dense.EXACT_SUBSET_MAX, saved = 0, dense.EXACT_SUBSET_MAX
    try:
        got = dense_top(short, vf, q[1], 25, subset=subset)
    finally:
        dense.EXACT_SUBSET_MAX = saved
    assert [d for d, _ in got] == truth(vf, subset, q[1], 25)[0]


def test_never_more_than_exist(data) -> None:
    ids, x, vf, q = data
    index = build("IDMap2,Flat", ids, x)
    assert len(dense_top(index, vf, q[2], 5000, all_ids=lambda: ids)) == 2000
    assert len(dense_top(index, vf, q[2], 10, subset=ids[:4])) == 4
    assert dense_top(index, vf, q[2], 10, subset=ids[:0]) == []


def test_small_subsets_of_an_ivf_index_are_exact(data) -> None:
    ids, x, vf, q = data
    index = build("IVF32,Flat", ids, x)
    index.index.nprobe = 1  # as approximate as it gets
    subset = ids[(ids * 7) % 11 == 0]
    for qi in q:
        got = dense_top(index, vf, qi, 20, subset=subset)
        assert [d for d, _ in got] == truth(vf, subset, qi, 20)[0]


@pytest.mark.parametrize("selector_only", [True, False])
def test_ivf_never_returns_fewer_than_k(data, monkeypatch, selector_only) -> None:
    ids, x, vf, q = data
    index = build("IVF32,Flat", ids, x)
    index.index.nprobe = 1
    if selector_only:
        monkeypatch.setattr(dense, "EXACT_SUBSET_MAX", 0)
    subset = ids[ids % 97 == 0]  # 20 ids scattered over the lists
    for qi in q:
        got = dense_top(index, vf, qi, 15, subset=subset)
        assert len(got) == 15 and {d for d, _ in got} <= set(subset.tolist())
        got = dense_top(index, vf, qi, 60, all_ids=lambda: ids)
        assert len(got) == 60


@pytest.fixture(scope="module")
def pq_index(data) -> VectorIndex:
    ids, x, _, _ = data
    index = build("IVF8,PQ8x4", ids, x)
    index.index.nprobe = 8
    return index


def test_lossy_index_is_rescored_with_exact_scores(data, pq_index) -> None:
    ids, _, vf, q = data
    index = pq_index
    assert is_lossy(index.factory) and not is_lossy("IDMap2,HNSW32")
    index.index.nprobe = 8
    recall_plain, recall_rescore = [], []
    for qi in q:
        want = set(truth(vf, ids, qi, 10)[0])
        plain = dense_top(index, vf, qi, 10, all_ids=lambda: ids)
        rer = dense_top(index, vf, qi, 10, all_ids=lambda: ids, rescore=True)
        recall_plain.append(len(want & {d for d, _ in plain}) / 10)
        recall_rescore.append(len(want & {d for d, _ in rer}) / 10)
        exact = dict(zip(ids.tolist(), (vf.read(ids) @ qi).tolist(), strict=True))
        assert all(s == pytest.approx(exact[d], abs=1e-6) for d, s in rer)
    assert np.mean(recall_rescore) > np.mean(recall_plain)
    assert np.mean(recall_rescore) >= 0.9


def test_post_filter_escalates_until_enough_match(data) -> None:
    ids, x, vf, q = data
    index = build("IDMap2,Flat", ids, x)
    scores = vf.read(ids) @ q[3]
    far = ids[scores < np.quantile(scores, 0.1)]  # the 10% least similar: none in a first fetch
    calls: list[int] = []

    def keep(cand: np.ndarray) -> np.ndarray:
        calls.append(len(cand))
        return np.intersect1d(cand, far)

    got = post_filtered_top(index, vf, q[3], 10, keep=keep, selectivity=len(far) / len(ids))
    assert got is not None
    exact32 = x[far - 1] @ q[3]  # the flat index holds the float32 vectors
    want = far[np.lexsort((far, -exact32))[:10]]
    assert [d for d, _ in got] == want.tolist()  # exact on a flat index
    assert len(calls) > 1 and calls == sorted(calls)  # fetched more and more
    # Too selective for the fetch budget: the caller must search the subset instead.
    tight = {"keep": keep, "max_fetch": 1000}
    assert post_filtered_top(index, vf, q[3], 10, selectivity=0.001, **tight) is None
    # ... unless the budget covers the whole index: then everything is fetched, exactly.
    whole = post_filtered_top(index, vf, q[3], 10, keep=keep, selectivity=0.001)
    assert [d for d, _ in whole] == want.tolist()
    small = post_filtered_top(index, vf, q[3], 10, keep=keep, selectivity=0.1, max_fetch=300)
    assert small is None  # the budget ran out before 10 matched


def test_post_filter_with_rescore_is_exact(data, pq_index) -> None:
    ids, _, vf, q = data
    index = pq_index
    even = ids[ids % 2 == 0]
    got = post_filtered_top(
        index, vf, q[4], 10, keep=lambda c: np.intersect1d(c, even), selectivity=0.5, rescore=True
    )
    assert got is not None and all(d % 2 == 0 for d, _ in got)
    exact = dict(zip(ids.tolist(), (vf.read(ids) @ q[4]).tolist(), strict=True))
    assert all(s == pytest.approx(exact[d], abs=1e-6) for d, s in got)
    want = set(truth(vf, even, q[4], 10)[0])
    assert len(want & {d for d, _ in got}) >= 8
