"""Compressed index types for large collections (indexer.vectors): factory strings, recorded
parameters, memory-mapped loading, exact re-scoring from vectors.f16, shard merging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.vectors import (
    VectorFile,
    VectorIndex,
    is_lossy,
    resolve_factory,
    train_sample_size,
)
from indexer.vectors.types import NPROBE_LOSSY, PQ_M_AUTO, RESCORE_DEPTH, TRAIN_MAX, TRAIN_MIN
from search.dense import dense_top

DIM = 32


def _clustered(n: int, seed: int = 0, centres: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Normalised Gaussian-mixture vectors with sparse doc ids."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, DIM)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.sort(rng.choice(20 * n, n, replace=False)).astype(np.int64) + 1
    return ids, x


def _exact(q: np.ndarray, ids: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]]


def _build(factory: str, ids: np.ndarray, x: np.ndarray) -> VectorIndex:
    vi = VectorIndex.create(DIM, factory)
    vi.train(x)
    vi.add(ids, x)
    return vi


# factory strings -----------------------------------------------------------------------------
def test_named_compressed_types() -> None:
    n = 36_000_000
    nlist = int(resolve_factory("ivf", n, 768)[3:].split(",")[0])
    assert resolve_factory("auto", n, 768) == f"IVF{nlist},PQ{PQ_M_AUTO}x8"
    assert resolve_factory("auto", 999_999, 768).endswith(",Flat")  # IVF-Flat below 1M
    assert resolve_factory("ivfpq128", n, 768) == f"IVF{nlist},PQ128x8"
    assert resolve_factory("opq", n, 768) == f"OPQ{PQ_M_AUTO},IVF{nlist},PQ{PQ_M_AUTO}x8"
    assert resolve_factory("OPQ64", n, 768) == f"OPQ64,IVF{nlist},PQ64x8"
    assert resolve_factory("sq8", n, 768) == f"IVF{nlist},SQ8"
    assert resolve_factory("sqfp16", n, 768) == f"IVF{nlist},SQfp16"
    assert resolve_factory("ivfpq", n, 768).endswith("PQ48x8")  # unchanged: dim/16 bytes
    for t in ("ivfpq96", "opq", "sq8", "sqfp16"):
        assert is_lossy(resolve_factory(t, 50_000, 768))
        VectorIndex.create(768, resolve_factory(t, 50_000, 768))  # every string constructs
    assert not is_lossy(resolve_factory("ivf", 50_000, 768))


@given(
    family=st.sampled_from(["ivfpq", "opq"]),
    m=st.integers(1, 400),
    n=st.integers(1, 10**8),
    dim=st.sampled_from([8, 24, 96, 100, 384, 768, 1024]),
)
@settings(max_examples=80, deadline=None)
def test_pq_code_size_divides_dim(family: str, m: int, n: int, dim: int) -> None:
    f = resolve_factory(f"{family}{m}", n, dim)
    code = int(f.split(",PQ")[1].split("x")[0])
    assert dim % code == 0 and 1 <= code <= min(m, dim)
    assert f.startswith(f"OPQ{code},") == (family == "opq")


@given(n=st.integers(1, 10**9), nlist=st.integers(1, 65536))
@settings(max_examples=60, deadline=None)
def test_train_sample_size_bounds(n: int, nlist: int) -> None:
    take = train_sample_size(n, f"IVF{nlist},PQ96x8")
    assert take <= n and take <= TRAIN_MAX
    assert take == n or take >= min(TRAIN_MIN, n)
    assert take >= min(n, 40 * nlist, TRAIN_MAX)


# parameters, mmap, re-scoring ----------------------------------------------------------------
LOSSY = ["IVF16,PQ8x6", "OPQ8,IVF16,PQ8x6", "IVF16,SQ8", "IVF16,SQfp16"]


@pytest.mark.parametrize("factory", LOSSY)
def test_params_recorded_and_mmap_answers_identically(factory: str, tmp_path: Path) -> None:
    ids, x = _clustered(3000)
    vi = _build(factory, ids, x)
    p = vi.params
    assert p["factory"] == factory and p["nlist"] == 16
    assert p["nprobe"] == min(16, NPROBE_LOSSY) and p["rescore_depth"] == RESCORE_DEPTH
    assert vi.train_size == 3000
    if "PQ" in factory:
        assert (p["M"], p["nbits"]) == (8, 6)
    assert p.get("opq", False) == factory.startswith("OPQ")
    assert p.get("sq") == (factory.split(",")[-1] if "SQ" in factory else None)
    path = tmp_path / "index.faiss"
    vi.save(path)
    back = VectorIndex.load(path, mmap=True)
    assert back.read_only and back.factory == factory and back.params == p
    q = _clustered(20, seed=5)[1]
    for kw in ({}, {"nprobe": 3}, {"subset_ids": ids[::4], "nprobe": 4}):
        s1, i1 = vi.search(q, 10, **kw)
        s2, i2 = back.search(q, 10, **kw)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)
        if "subset_ids" in kw:
            assert np.isin(i1[i1 >= 0], ids[::4]).all()
    _, few = back.search(q, 10, nprobe=1)
    _, many = back.search(q, 10, nprobe=16)
    assert (few != many).any()  # nprobe per query takes effect


@pytest.mark.parametrize("factory", ["IVF16,PQ8x6", "OPQ8,IVF16,PQ8x6"])
def test_rescoring_from_fp16_vectors_restores_recall(factory: str, tmp_path: Path) -> None:
    ids, x = _clustered(4000, seed=1)
    vi = _build(factory, ids, x)
    vf = VectorFile(tmp_path / "vectors.f16", DIM)
    vf.write(ids, x)
    q = _clustered(40, seed=9)[1]
    want = _exact(q, ids, x, 10)

    def recall(rescore: bool) -> float:
        got = [
            [
                d
                for d, _ in dense_top(
                    vi,
                    vf,
                    qi,
                    10,
                    rescore=rescore,
                    rescore_depth=RESCORE_DEPTH,
                    knobs={"nprobe": 16},
                )
            ]
            for qi in q
        ]
        return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)]))

    raw, rescored = recall(False), recall(True)
    assert rescored >= 0.95 and rescored > raw  # 8-byte codes alone are far from exact


# shards --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "factory", ["IDMap2,Flat", "IVF16,Flat", "IVF16,PQ8x6", "OPQ8,IVF16,PQ8x6"]
)
def test_merged_shards_equal_one_sequential_add(factory: str) -> None:
    ids, x = _clustered(3000, seed=2)
    one = VectorIndex.create(DIM, factory)
    if one.needs_training:
        one.train(x)
    merged = one.empty_clone()
    one.add(ids, x)
    assert merged.ntotal == 0 and not merged.needs_training
    for part in np.array_split(np.arange(len(ids)), 3):
        shard = merged.empty_clone()
        shard.add(ids[part], x[part])
        merged.merge(shard)
    assert merged.ntotal == one.ntotal == len(ids)
    q = _clustered(15, seed=3)[1]
    for kw in ({"nprobe": 4}, {"subset_ids": ids[:50]}):
        s1, i1 = one.search(q, 10, **kw)
        s2, i2 = merged.search(q, 10, **kw)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert merged.remove(ids[:10]) == 10


def test_hnsw_and_mismatched_merges_are_refused() -> None:
    ids, x = _clustered(200)
    hnsw = _build("IDMap2,HNSW16", ids, x)
    with pytest.raises(ValueError, match="HNSW"):
        hnsw.merge(hnsw.empty_clone())
    flat = _build("IDMap2,Flat", ids, x)
    with pytest.raises(ValueError, match="cannot merge"):
        flat.merge(_build("IVF4,Flat", ids, x))
