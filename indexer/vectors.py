"""FAISS index (doc ids + vectors, inner product) and the fp16 side store ``vectors.f16``.

Ids are our int64 doc ids. Flat and HNSW indexes are wrapped in ``IndexIDMap2`` (which maps
ids and can reconstruct a vector by id); IVF indexes take ids directly (``add_with_ids``) and
remove them natively. HNSW cannot delete from its graph, so ``remove`` on an HNSW index
rebuilds the graph from the kept vectors (reconstructed exactly from its flat storage): one
rebuild per build that deletes anything, and the saved file never carries tombstones.

Subset search (``subset_ids``, e.g. the ids matching metadata filters) returns the top-k of
the subset: small subsets (<= EXACT_SUBSET_MAX) of an IDMap2 index (Flat, HNSW) are scored
exactly from reconstructed vectors; otherwise an ``IDSelectorBatch`` goes in the search
parameters, and for IVF/HNSW nprobe/efSearch grow with the inverse selectivity (capped) so
that about as many subset members are visited as an unfiltered search would visit.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.encoder import physical_cores

# "auto" picks an exact flat index below N_FLAT vectors. Measured on the 2-core dev VM
# (AMD EPYC, shared, load ~4), dim 768, one query, k=10, IDMap2,Flat, median of 20:
# 10k -> 3.7 ms, 25k -> 8.8 ms, 50k -> 25 ms, 100k -> 30 ms: ~10 ms is reached near 30k.
N_FLAT = 30_000
N_IVFPQ = 1_000_000  # above this, IVF-PQ (4 GB+ of fp32 vectors otherwise); re-score upstream
# IVF-PQ chosen by "auto" for large collections (bench/scale.py): 96-byte codes (8 dims per
# sub-quantizer), nprobe NPROBE_LOSSY, and the top RESCORE_DEPTH candidates re-scored exactly
# from vectors.f16 (memory-mapped) by the search side: ~105 bytes/article in RAM incl. ids.
PQ_M_AUTO = 96
NPROBE_LOSSY = 64
RESCORE_DEPTH = 200
TRAIN_PER_LIST = 40  # training sample: ~40 points per IVF list (FAISS wants >= 39) ...
TRAIN_MIN, TRAIN_MAX = 100_000, 1_000_000  # ... within these bounds
EXACT_SUBSET_MAX = N_FLAT  # subsets this small are scored exactly by reconstructing vectors
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 64
HNSW_EF_FILTERED_MAX = 4096  # cap of the efSearch a filtered HNSW search grows to
TRAIN_MAX_PER_LIST = 256
SEED = 1234

faiss.omp_set_num_threads(physical_cores())


def _nlist(n: int) -> int:
    """~4*sqrt(n) lists, but at least 39 training points per list, within [1, 65536]."""
    return int(min(max(1, round(4 * math.sqrt(max(n, 1)))), max(1, n // 39), 65536))


def _pq_m(dim: int) -> int:
    """Sub-quantizers: ~16 dims each (48 bytes a vector at dim 768), dividing dim."""
    m = max(1, dim // 16)
    while dim % m:
        m -= 1
    return m


def _divisor_near(dim: int, m: int) -> int:
    """The largest divisor of ``dim`` that is <= ``m`` (at least 1)."""
    m = max(1, min(m, dim))
    while dim % m:
        m -= 1
    return m


def _nbits(n: int) -> int:
    return 8 if n >= 256 * 39 else 6 if n >= 64 * 39 else 4


def train_sample_size(n: int, factory: str) -> int:
    """How many of ``n`` vectors to train ``factory`` on (IVF: ~TRAIN_PER_LIST per list)."""
    m = re.search(r"IVF(\d+)", factory)
    want = TRAIN_PER_LIST * int(m.group(1)) if m else TRAIN_MIN
    return int(min(n, max(TRAIN_MIN, min(want, TRAIN_MAX))))


def _construct(dim: int, factory: str) -> faiss.Index:
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except Exception as e:  # faiss raises RuntimeError with a C++ trace
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"invalid FAISS index type or factory string {factory!r}: {msg}") from e


def _ivf(index: faiss.Index) -> Any | None:
    try:
        return faiss.extract_index_ivf(index)
    except Exception:
        return None


_NAMED = re.compile(r"^(ivfpq|opq)(\d*)$")


def resolve_factory(index_type: str, n: int, dim: int) -> str:
    """A FAISS factory string for ``index_type``.

    Named types: ``auto`` | ``flat`` | ``hnsw`` | ``ivf`` (IVF-Flat) | ``ivfpq`` (dim/16-byte
    codes) | ``ivfpqM`` (M-byte codes, e.g. ``ivfpq96``) | ``opq``/``opqM`` (OPQ rotation +
    IVF-PQ, M bytes, default 96) | ``sq8`` / ``sqfp16`` (IVF with scalar-quantised vectors,
    1 or 2 bytes a dimension); anything else is a raw FAISS factory string. ``auto``: exact
    flat below N_FLAT vectors, IVF-Flat below N_IVFPQ, else IVF-PQ with PQ_M_AUTO-byte codes
    (lossy types are re-scored from vectors.f16 by the search side).
    """
    t = index_type.strip()
    kind = t.lower()
    if kind == "auto":
        kind = "flat" if n < N_FLAT else ("ivf" if n < N_IVFPQ else f"ivfpq{PQ_M_AUTO}")
    if kind == "flat":
        return "IDMap2,Flat"
    if kind == "hnsw":
        return f"IDMap2,HNSW{HNSW_M}"
    if kind == "ivf":
        return f"IVF{_nlist(n)},Flat"
    if kind in ("sq8", "sqfp16"):
        return f"IVF{_nlist(n)},{'SQ8' if kind == 'sq8' else 'SQfp16'}"
    named = _NAMED.match(kind)
    if named:
        family, digits = named.groups()
        if digits:
            m = _divisor_near(dim, int(digits))
        else:
            m = _pq_m(dim) if family == "ivfpq" else _divisor_near(dim, PQ_M_AUTO)
        pq = f"IVF{_nlist(n)},PQ{m}x{_nbits(n)}"
        return f"OPQ{m},{pq}" if family == "opq" else pq
    index = _construct(dim, t)
    if _ivf(index) is None and not isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return f"IDMap2,{t}"  # so that it takes our doc ids
    return t


_SQ_NAMES = {
    "QT_8bit": "SQ8",
    "QT_4bit": "SQ4",
    "QT_6bit": "SQ6",
    "QT_fp16": "SQfp16",
    "QT_bf16": "SQbf16",
    "QT_8bit_uniform": "SQ8_uniform",
    "QT_4bit_uniform": "SQ4_uniform",
}


def _sq_name(qtype: int) -> str:
    for attr, name in _SQ_NAMES.items():
        if getattr(faiss.ScalarQuantizer, attr, None) == qtype:
            return name
    return f"SQ?{qtype}"


def _describe(index: faiss.Index) -> str:
    """Best-effort factory string of a loaded index."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return "IDMap2," + _describe(index.index)
    if isinstance(index, faiss.IndexPreTransform):
        inner = faiss.downcast_index(index.index)
        m = inner.pq.M if isinstance(inner, faiss.IndexIVFPQ) else index.d
        return f"OPQ{m},{_describe(inner)}"
    if isinstance(index, faiss.IndexHNSWFlat):
        return f"HNSW{index.hnsw.nb_neighbors(1)}"
    if isinstance(index, faiss.IndexFlat):
        return "Flat"
    if isinstance(index, faiss.IndexIVFPQ):
        return f"IVF{index.nlist},PQ{index.pq.M}x{index.pq.nbits}"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return f"IVF{index.nlist},{_sq_name(index.sq.qtype)}"
    if isinstance(index, faiss.IndexIVFFlat):
        return f"IVF{index.nlist},Flat"
    return type(index).__name__


def is_lossy(factory: str) -> bool:
    """True for index types whose scores approximate the inner product (PQ / SQ codes)."""
    f = factory.upper()
    return "PQ" in f or "SQ" in f or "LSH" in f


class VectorIndex:
    """A FAISS index over doc ids; searches are safe from several threads."""

    def __init__(self, index: faiss.Index, factory: str, read_only: bool = False) -> None:
        self.index = index
        self.factory = factory
        self.dim = int(index.d)
        self.read_only = read_only
        ivf = _ivf(index)
        self._ivf = faiss.downcast_index(ivf) if ivf is not None else None
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
        self._hnsw = inner if isinstance(inner, faiss.IndexHNSW) else None
        self._idmap2 = isinstance(index, faiss.IndexIDMap2)
        # FAISS hangs when IVF search parameters reach an IndexPreTransform (OPQ) unwrapped
        self._pretransform = isinstance(faiss.downcast_index(index), faiss.IndexPreTransform)
        self.train_size: int | None = None  # vectors trained on (known when trained here)
        self._ids: np.ndarray | None = None  # sorted ids of an IDMap2 index, cached

    def _sorted_ids(self) -> np.ndarray:
        ids = self._ids
        if ids is None:
            ids = np.sort(faiss.vector_to_array(self.index.id_map).astype(np.int64))
            self._ids = ids
        return ids

    def _contains(self, ids: np.ndarray) -> np.ndarray:
        have = self._sorted_ids()
        pos = np.minimum(np.searchsorted(have, ids), max(len(have) - 1, 0))
        return have[pos] == ids if len(have) else np.zeros(len(ids), bool)

    @classmethod
    def create(cls, dim: int, factory: str) -> VectorIndex:
        index = _construct(dim, factory)  # already the concrete class; owns the C++ object
        if _ivf(index) is None and not isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
            raise ValueError(f"{factory!r} cannot hold doc ids: use resolve_factory() first")
        self = cls(index, factory)
        if self._hnsw is not None:
            self._hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            self._hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        if self._ivf is not None:
            probe = NPROBE_LOSSY if is_lossy(factory) else max(8, self._ivf.nlist // 16)
            self._ivf.nprobe = min(self._ivf.nlist, probe)
            self._ivf.cp.seed = SEED
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str], mmap: bool = False) -> VectorIndex:
        """Read an index; ``mmap`` maps its data read-only when FAISS supports it (else reads)."""
        index = None
        # IO_FLAG_MMAP_IFC (FAISS >= 1.10) maps flat codes and IVF lists; IO_FLAG_MMAP, IVF only
        flag_sets = [getattr(faiss, "IO_FLAG_MMAP_IFC", 0), faiss.IO_FLAG_MMAP] if mmap else []
        for flags in filter(None, flag_sets):
            try:
                index = faiss.read_index(str(path), flags | faiss.IO_FLAG_READ_ONLY)
                break
            except Exception:
                index = None
        read_only = index is not None
        if index is None:
            index = faiss.read_index(str(path))
        return cls(index, _describe(index), read_only=read_only)

    # properties -------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def needs_training(self) -> bool:
        return not self.index.is_trained

    @property
    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"factory": self.factory}
        if self._ivf is not None:
            p.update(nlist=int(self._ivf.nlist), nprobe=int(self._ivf.nprobe))
            inner = self._ivf
            if isinstance(inner, faiss.IndexIVFPQ):
                p.update(M=int(inner.pq.M), nbits=int(inner.pq.nbits))
            if self._pretransform:
                p["opq"] = True
            if isinstance(inner, faiss.IndexIVFScalarQuantizer):
                p["sq"] = _sq_name(inner.sq.qtype)
        if self._hnsw is not None:
            h = self._hnsw.hnsw
            p.update(M=int(h.nb_neighbors(1)), efSearch=int(h.efSearch))
            p["efConstruction"] = int(h.efConstruction)
        if is_lossy(self.factory):
            p["rescore"] = RESCORE_DEPTH  # candidates the search side re-scores exactly
        return p

    # writing ----------------------------------------------------------------
    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError("this index was loaded memory-mapped (read-only)")

    def train(self, x: np.ndarray) -> None:
        """Train on a seeded sample of ``x`` (at most 256 points per IVF list)."""
        self._writable()
        x = np.ascontiguousarray(x, dtype=np.float32)
        cap = TRAIN_MAX_PER_LIST * (int(self._ivf.nlist) if self._ivf is not None else 256)
        if len(x) > cap:
            rows = np.sort(np.random.default_rng(SEED).choice(len(x), cap, replace=False))
            x = x[rows]
        self.index.train(x)
        self.train_size = len(x)

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        self._writable()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {x.shape}")
        if len(ids):
            self._ids = None
            self.index.add_with_ids(x, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove these doc ids (absent ones are ignored); returns how many were removed."""
        self._writable()
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if not len(ids) or not self.ntotal:
            return 0
        self._ids = None
        if self._hnsw is None:
            return int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))
        have = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        keep = have[~np.isin(have, ids)]
        removed = len(have) - len(keep)
        if removed:  # HNSW cannot delete: rebuild the graph from the kept vectors
            vectors = self.index.reconstruct_batch(keep) if len(keep) else None
            fresh = VectorIndex.create(self.dim, self.factory)
            assert fresh._hnsw is not None
            fresh._hnsw.hnsw.efSearch = self._hnsw.hnsw.efSearch
            fresh._hnsw.hnsw.efConstruction = self._hnsw.hnsw.efConstruction
            if vectors is not None:
                if fresh.needs_training:
                    fresh.train(vectors)
                fresh.add(keep, vectors)
            self.index, self._hnsw = fresh.index, fresh._hnsw
        return removed

    def empty_clone(self) -> VectorIndex:
        """A trained, empty copy (same quantizer/codebooks): a shard that :meth:`merge` takes."""
        clone = faiss.clone_index(self.index)
        clone.reset()
        return VectorIndex(clone, self.factory)

    def merge(self, shard: VectorIndex) -> None:
        """Append ``shard``'s vectors (an :meth:`empty_clone` filled elsewhere) to this index.

        IVF lists are concatenated list by list (the shard must share the trained quantizer),
        IDMap2 (flat) indexes row by row: the result equals adding the shards' vectors here in
        the same order. HNSW graphs cannot be merged.
        """
        self._writable()
        if self._hnsw is not None:
            raise ValueError("HNSW indexes cannot be merged: add the vectors to one index")
        if shard.dim != self.dim or shard.factory != self.factory:
            raise ValueError(f"cannot merge {shard.factory!r} into {self.factory!r}")
        self._ids = None
        if self._ivf is not None:
            assert shard._ivf is not None
            self._ivf.merge_from(shard._ivf, 0)
            self.index.ntotal = self._ivf.ntotal  # an OPQ wrapper counts separately
        else:
            self.index.merge_from(shard.index, 0)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a temporary file in the same directory, fsync, os.replace."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # searching --------------------------------------------------------------
    def search(
        self,
        q: np.ndarray,
        k: int,
        subset_ids: np.ndarray | None = None,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 (nq, k), ids int64 (nq, k)); empty slots have id -1, score -inf."""
        q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32)
        nq = len(q)
        if k < 1 or not self.ntotal or nq == 0:
            return np.full((nq, max(k, 0)), -np.inf, np.float32), np.full((nq, max(k, 0)), -1)
        sel = None
        frac = 1.0
        if subset_ids is not None:
            subset = np.unique(np.asarray(subset_ids, dtype=np.int64))
            if self._idmap2 and len(subset) <= EXACT_SUBSET_MAX:
                return self._exact_subset(q, k, subset)
            sel = faiss.IDSelectorBatch(subset)
            frac = max(len(subset) / self.ntotal, 1e-9)
        params: Any = None
        if self._ivf is not None:
            probe = nprobe or int(self._ivf.nprobe)
            probe = min(int(self._ivf.nlist), math.ceil(probe / frac))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=probe) if sel else None
            if params is None and nprobe:
                params = faiss.SearchParametersIVF(nprobe=probe)
        elif self._hnsw is not None:
            ef = ef_search or int(self._hnsw.hnsw.efSearch)
            if sel is not None:
                ef = min(max(ef, HNSW_EF_FILTERED_MAX), math.ceil(ef / frac))
            ef = max(ef, k)
            params = faiss.SearchParametersHNSW(efSearch=ef)
            if sel is not None:
                params.sel = sel
        elif sel is not None:
            params = faiss.SearchParameters(sel=sel)
        keep = params
        if params is not None and self._pretransform:
            wrapped = faiss.SearchParametersPreTransform()
            wrapped.index_params = params  # ``keep`` holds the inner object during the search
            params = wrapped
        scores, ids = self.index.search(q, k, params=params)
        del keep
        scores = scores.astype(np.float32, copy=False)
        scores[ids < 0] = -np.inf
        return scores, ids.astype(np.int64, copy=False)

    def _exact_subset(
        self, q: np.ndarray, k: int, subset: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        subset = subset[self._contains(subset)]
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        if not len(subset):
            return scores, ids
        sims = q @ self.index.reconstruct_batch(subset).T
        kk = min(k, len(subset))
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        top_s = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((subset[top], -top_s), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        scores[:, :kk] = np.take_along_axis(sims, top, axis=1)
        ids[:, :kk] = subset[top]
        return scores, ids


class VectorFile:
    """Append-only fp16 vectors on disk, row r = doc id r; rows never written read as zeros.

    One writer grows the file as needed (sparse holes); readers (``readonly=True``) see rows
    written before they read and re-map when the file has grown.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        dim: int,
        dtype: Any = np.float16,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.dim = int(dim)
        self.dtype = np.dtype(dtype)
        self.readonly = readonly
        self._row_bytes = self.dim * self.dtype.itemsize
        if not readonly and not self.path.exists():
            self.path.touch()
        self._mm: np.memmap | None = None
        self._map()

    @property
    def rows(self) -> int:
        return 0 if self._mm is None else len(self._mm)

    def _map(self) -> None:
        rows = os.path.getsize(self.path) // self._row_bytes
        self._mm = None
        if rows:
            mode = "r" if self.readonly else "r+"
            self._mm = np.memmap(self.path, self.dtype, mode, shape=(rows, self.dim))

    def write(self, ids: np.ndarray, x: np.ndarray) -> None:
        if self.readonly:
            raise RuntimeError(f"{self.path} was opened read-only")
        ids = np.asarray(ids, dtype=np.int64)
        x = np.asarray(x)
        if x.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {x.shape}")
        if not len(ids):
            return
        if ids.min() < 0:
            raise ValueError("doc ids must be >= 0")
        need = int(ids.max()) + 1
        if need > self.rows:
            if self._mm is not None:
                self._mm.flush()
            os.truncate(self.path, need * self._row_bytes)
            self._map()
        assert self._mm is not None
        self._mm[ids] = x.astype(self.dtype)

    def read(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if not len(ids):
            return out
        if ids.min() < 0:
            raise ValueError("doc ids must be >= 0")
        if int(ids.max()) >= self.rows:
            self._map()  # the writer may have grown the file since we mapped it
        if self._mm is not None:
            ok = ids < self.rows
            out[ok] = self._mm[ids[ok]]
        return out

    def flush(self) -> None:
        """Make written rows durable (msync + fsync)."""
        if self._mm is not None:
            self._mm.flush()
        if not self.readonly:
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())

    def close(self) -> None:
        if self._mm is not None and not self.readonly:
            self._mm.flush()
        self._mm = None
