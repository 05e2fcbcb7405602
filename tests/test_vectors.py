"""indexer.vectors: factory strings, FAISS wrapper (exact, remove, subsets, files), VectorFile."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.vectors import VectorFile, VectorIndex, resolve_factory
from indexer.vectors.types import N_FLAT

DIM = 32


def _data(n: int, dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.choice(10 * n, n, replace=False).astype(np.int64) + 5  # sparse doc ids
    return ids, x


def _brute(q: np.ndarray, ids: np.ndarray, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = q @ x.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


def _build(factory: str, ids: np.ndarray, x: np.ndarray) -> VectorIndex:
    vi = VectorIndex.create(x.shape[1], factory)
    if vi.needs_training:
        vi.train(x)
    assert not vi.needs_training
    vi.add(ids, x)
    return vi


# resolve_factory ----------------------------------------------------------------------------
def test_resolve_named_types() -> None:
    assert resolve_factory("flat", 10, 768) == "IDMap2,Flat"
    assert resolve_factory("auto", N_FLAT - 1, 768) == "IDMap2,Flat"
    auto_big = resolve_factory("auto", 200_000, 768)
    assert auto_big.startswith("IVF") and auto_big.endswith(",Flat")
    assert resolve_factory("auto", 5_000_000, 768).startswith("IVF")
    assert ",PQ" in resolve_factory("auto", 5_000_000, 768)
    assert resolve_factory("hnsw", 1000, 768) == "IDMap2,HNSW32"
    assert resolve_factory("HNSW", 1000, 768) == "IDMap2,HNSW32"
    assert resolve_factory("ivf", 1_000_000, 768) == "IVF4000,Flat"  # 4 * sqrt(n)
    assert resolve_factory("ivf", 1000, 768) == "IVF25,Flat"  # >= 39 training points a list
    pq = resolve_factory("ivfpq", 1_000_000, 768)
    assert pq == "IVF4000,PQ48x8"
    for t in ("flat", "hnsw", "ivf", "ivfpq", "auto"):
        VectorIndex.create(768, resolve_factory(t, 50_000, 768))  # every string constructs


@given(n=st.integers(1, 10**8), dim=st.sampled_from([8, 24, 96, 100, 384, 768, 1024]))
@settings(max_examples=60, deadline=None)
def test_resolve_parameters_valid(n: int, dim: int) -> None:
    f = resolve_factory("ivfpq", n, dim)
    nlist = int(f[3 : f.index(",")])
    m = int(f[f.index("PQ") + 2 : f.index("x")])
    assert 1 <= nlist <= 65536 and (nlist == 1 or nlist * 39 <= n)
    assert dim % m == 0 and 1 <= m <= max(1, dim // 16)
    assert resolve_factory("ivf", n, dim) == f"IVF{nlist},Flat"


def test_resolve_raw_factory_strings() -> None:
    assert resolve_factory("IVF16,SQ8", 1000, DIM) == "IVF16,SQ8"  # IVF takes ids natively
    assert resolve_factory("HNSW16", 1000, DIM) == "IDMap2,HNSW16"  # wrapped to take ids
    assert resolve_factory("IDMap2,Flat", 1000, DIM) == "IDMap2,Flat"
    with pytest.raises(ValueError, match="nonsense"):
        resolve_factory("nonsense", 1000, DIM)
    with pytest.raises(ValueError):
        resolve_factory("IVF16,PQ5", 1000, DIM)  # 5 does not divide 32
    with pytest.raises(ValueError, match="doc ids"):
        VectorIndex.create(DIM, "Flat")


# add / search / remove -----------------------------------------------------------------------
def test_flat_exact_against_numpy() -> None:
    ids, x = _data(500)
    vi = _build("IDMap2,Flat", ids, x)
    assert vi.ntotal == 500 and vi.dim == DIM
    q = _data(7, seed=9)[1]
    scores, got = vi.search(q, 10)
    want_s, want_ids = _brute(q, ids, x, 10)
    assert scores.dtype == np.float32 and got.dtype == np.int64 and got.shape == (7, 10)
    np.testing.assert_array_equal(got, want_ids)
    np.testing.assert_allclose(scores, want_s, atol=1e-5)
    # k beyond ntotal: empty slots are -1 / -inf
    s2, i2 = vi.search(q[:1], 600)
    assert (i2[0, :500] >= 0).all() and (i2[0, 500:] == -1).all() and np.isinf(s2[0, 500:]).all()


def test_empty_index_search() -> None:
    vi = VectorIndex.create(DIM, "IDMap2,Flat")
    s, i = vi.search(np.ones((2, DIM), np.float32), 3)
    assert s.shape == (2, 3) and (i == -1).all()


@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IVF16,Flat", "IDMap2,HNSW32"])
def test_remove(factory: str) -> None:
    ids, x = _data(800)
    vi = _build(factory, ids, x)
    gone = ids[::3]
    assert vi.remove(np.concatenate([gone, [10**9]])) == len(gone)  # absent id ignored
    assert vi.ntotal == 800 - len(gone)
    assert vi.remove(gone) == 0
    kept = np.setdiff1d(ids, gone)
    _, got = vi.search(x, 5, nprobe=16, ef_search=400)
    assert not np.isin(got, gone).any()
    # every kept vector still finds itself
    mask = np.isin(ids, kept)
    _, top1 = vi.search(x[mask], 1, nprobe=16, ef_search=400)
    assert (top1[:, 0] == ids[mask]).mean() > 0.99


@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IVF16,Flat", "IDMap2,HNSW32"])
@pytest.mark.parametrize("subset_size", [3, 40, 700])
def test_subset_search_is_top_k_of_subset(
    factory: str, subset_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexer.vectors.index as vectors

    ids, x = _data(1500)
    vi = _build(factory, ids, x)
    rng = np.random.default_rng(subset_size)
    subset = rng.choice(ids, subset_size, replace=False)
    q = _data(5, seed=11)[1]
    mask = np.isin(ids, subset)
    want_s, want_ids = _brute(q, ids[mask], x[mask], 10)
    for exact_max in (vectors.EXACT_SUBSET_MAX, 0):  # exact path and selector path
        monkeypatch.setattr(vectors, "EXACT_SUBSET_MAX", exact_max)
        s, got = vi.search(q, 10, subset_ids=np.concatenate([subset, [10**9]]), nprobe=16)
        k = min(10, subset_size)
        assert np.isin(got[:, :k], subset).all()
        assert (got[:, k:] == -1).all()
        if "HNSW" in factory and exact_max == 0:
            recall = np.mean(
                [len(set(a[:k]) & set(b[:k])) / k for a, b in zip(got, want_ids, strict=True)]
            )
            assert recall >= 0.9
        else:
            np.testing.assert_array_equal(got[:, :k], want_ids[:, :k])
            np.testing.assert_allclose(s[:, :k], want_s[:, :k], atol=1e-5)


def test_ivf_nprobe_and_params() -> None:
    ids, x = _data(2000)
    vi = _build(resolve_factory("ivf", 2000, DIM), ids, x)
    p = vi.params
    assert p["factory"] == "IVF51,Flat" and p["nlist"] == 51 and 1 <= p["nprobe"] <= 51
    q = x[:50]
    _, exact = vi.search(q, 10, nprobe=51)
    _, want = _brute(q, ids, x, 10)
    np.testing.assert_array_equal(exact, want)  # all lists probed = exhaustive
    _, one = vi.search(q, 10, nprobe=1)
    assert (one != want).any()  # one list only: approximate
    hn = _build("IDMap2,HNSW32", ids, x)
    assert hn.params == {
        "factory": "IDMap2,HNSW32",
        "M": 32,
        "efSearch": 64,
        "efConstruction": 80,
    }
    assert _build("IDMap2,Flat", ids, x).params == {"factory": "IDMap2,Flat"}


def test_ivf_train_is_seeded() -> None:
    ids, x = _data(3000)
    a = _build("IVF32,Flat", ids, x)
    b = _build("IVF32,Flat", ids, x)
    sa, ia = a.search(x[:20], 5, nprobe=2)
    sb, ib = b.search(x[:20], 5, nprobe=2)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(sa, sb)


@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IVF16,Flat", "IDMap2,HNSW32", "IVF8,PQ8x4"])
@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_round_trip(factory: str, mmap: bool, tmp_path: Path) -> None:
    ids, x = _data(900)
    vi = _build(factory, ids, x)
    path = tmp_path / "index.faiss"
    vi.save(path)
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["index.faiss"]
    back = VectorIndex.load(path, mmap=mmap)
    assert back.ntotal == 900 and back.dim == DIM
    assert back.factory == factory and back.params == vi.params
    assert back.read_only == mmap  # FAISS 1.15 maps every one of these types
    if mmap:
        with pytest.raises(RuntimeError, match="read-only"):
            back.add(ids[:1] + 10**8, x[:1])
    q = x[:10]
    s1, i1 = vi.search(q, 5, subset_ids=ids[:300])
    s2, i2 = back.search(q, 5, subset_ids=ids[:300])
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)


def test_save_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    ids, x = _data(100)
    _build("IDMap2,Flat", ids[:50], x[:50]).save(path)
    _build("IDMap2,Flat", ids, x).save(path)
    assert VectorIndex.load(path).ntotal == 100
    assert sorted(os.listdir(tmp_path)) == ["index.faiss"]


# VectorFile ----------------------------------------------------------------------------------
def test_vector_file_write_read_holes_growth(tmp_path: Path) -> None:
    path = tmp_path / "vectors.f16"
    vf = VectorFile(path, DIM)
    assert vf.rows == 0 and vf.read(np.array([0, 5])).shape == (2, DIM)
    _, x = _data(20)
    vf.write(np.arange(1, 11), x[:10])
    assert vf.rows == 11 and path.stat().st_size == 11 * DIM * 2
    vf.write(np.array([100, 50]), x[10:12])  # grows, leaving a hole
    assert vf.rows == 101
    got = vf.read(np.array([0, 3, 50, 100, 77, 5000]))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[1], x[2], atol=2e-3)  # fp16 precision
    np.testing.assert_allclose(got[2], x[11], atol=2e-3)
    np.testing.assert_allclose(got[3], x[10], atol=2e-3)
    assert not got[0].any() and not got[4].any() and not got[5].any()  # holes / beyond the end
    vf.write(np.array([3]), x[19:20])  # overwrite in place
    np.testing.assert_allclose(vf.read(np.array([3]))[0], x[19], atol=2e-3)
    vf.flush()
    vf.close()
    again = VectorFile(path, DIM)
    np.testing.assert_allclose(again.read(np.array([50]))[0], x[11], atol=2e-3)
    with pytest.raises(ValueError):
        again.write(np.array([1]), x[:2])
    with pytest.raises(ValueError):
        again.write(np.array([-1]), x[:1])


def test_vector_file_reader_sees_growth(tmp_path: Path) -> None:
    path = tmp_path / "vectors.f16"
    writer = VectorFile(path, DIM)
    _, x = _data(4)
    writer.write(np.array([0]), x[:1])
    writer.flush()
    reader = VectorFile(path, DIM, readonly=True)
    with pytest.raises(RuntimeError):
        reader.write(np.array([1]), x[1:2])
    writer.write(np.array([1, 2000]), x[1:3])
    writer.flush()
    got = reader.read(np.array([0, 1, 2000]))  # re-maps on demand
    np.testing.assert_allclose(got, x[:3], atol=2e-3)
    assert reader.rows == 2001


@given(
    writes=st.lists(
        st.tuples(st.integers(0, 300), st.floats(-100, 100, allow_nan=False)), max_size=40
    )
)
@settings(max_examples=40, deadline=None)
def test_vector_file_matches_dict_model(writes: list[tuple[int, float]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        vf = VectorFile(Path(d) / "v.f16", 4)
        model: dict[int, float] = {}
        for doc_id, value in writes:
            vf.write(np.array([doc_id]), np.full((1, 4), value))
            model[doc_id] = value
        probe = np.arange(0, 320)
        got = vf.read(probe)
        want = np.array([[np.float16(model.get(int(i), 0.0))] * 4 for i in probe], np.float32)
        np.testing.assert_array_equal(got, want)


_RSS_PROBE = """
import os, sys
from indexer.vectors import VectorIndex
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
b = rss(); index = VectorIndex.load(sys.argv[1], mmap=sys.argv[2] == "1"); a = rss()
print(a - b, index.read_only)
"""


@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IVF16,Flat"])
def test_mmap_load_does_not_read_vectors_into_memory(factory: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    if not Path("/proc/self/statm").exists():
        pytest.skip("needs /proc (Linux)")
    ids, x = _data(20_000, dim=512)  # 40 MB of float32
    path = tmp_path / "index.faiss"
    _build(factory, ids, x).save(path)

    def probe(mmap: bool) -> tuple[float, bool]:
        out = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, str(path), "1" if mmap else "0"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.split()
        return float(out[0]), out[1] == "True"

    grown, read_only = probe(mmap=True)
    assert read_only and grown < 15
    grown, read_only = probe(mmap=False)
    assert not read_only and grown > 30  # a normal read holds the 40 MB
    mapped = VectorIndex.load(path, mmap=True)
    q = np.ones((1, 512), np.float32)
    np.testing.assert_array_equal(mapped.search(q, 5)[1], VectorIndex.load(path).search(q, 5)[1])
