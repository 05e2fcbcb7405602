"""FAISS index over doc ids (inner product): create, train, add, remove, merge, save, search.

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

Index types and their default parameters are chosen in ``indexer.vectors.types``; the fp16
side store ``vectors.f16`` is ``indexer.vectors.file.VectorFile``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import faiss
import numpy as np

from indexer import durable
from indexer.manifest import IndexFormatError
from indexer.models.device import physical_cores
from indexer.vectors.types import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    N_FLAT,
    NPROBE_LOSSY,
    RESCORE_DEPTH,
    construct,
    describe,
    extract_ivf,
    faiss_message,
    is_lossy,
    sq_name,
)

EXACT_SUBSET_MAX = N_FLAT  # subsets this small are scored exactly by reconstructing vectors
HNSW_EF_FILTERED_MAX = 4096  # cap of the efSearch a filtered HNSW search grows to
TRAIN_MAX_PER_LIST = 256
SEED = 1234

faiss.omp_set_num_threads(physical_cores())


class VectorIndex:
    """A FAISS index over doc ids; searches are safe from several threads."""

    def __init__(self, index: faiss.Index, factory: str, read_only: bool = False) -> None:
        self.index = index
        self.factory = factory
        self.dim = int(index.d)
        self.read_only = read_only
        ivf = extract_ivf(index)
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
        index = construct(dim, factory)  # already the concrete class; owns the C++ object
        if extract_ivf(index) is None and not isinstance(
            index, (faiss.IndexIDMap, faiss.IndexIDMap2)
        ):
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
        """Read an index; ``mmap`` maps its data read-only when FAISS supports it (else reads).

        IndexFormatError names the file if it is missing or not a FAISS index (e.g. truncated).
        """
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
            try:
                index = faiss.read_index(str(path))
            except Exception as e:  # faiss raises RuntimeError with a C++ trace
                detail = faiss_message(e) if os.path.exists(path) else "missing"
                message = f"{path} cannot be read ({detail}): the index is damaged"
                raise IndexFormatError(message) from e
        return cls(index, describe(index), read_only=read_only)

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
                p["sq"] = sq_name(inner.sq.qtype)
        if self._hnsw is not None:
            h = self._hnsw.hnsw
            p.update(M=int(h.nb_neighbors(1)), efSearch=int(h.efSearch))
            p["efConstruction"] = int(h.efConstruction)
        if is_lossy(self.factory):
            p["rescore_depth"] = RESCORE_DEPTH  # candidates the search side re-scores exactly
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
        """Write atomically and durably (``indexer.durable``)."""
        with durable.replacing(path) as tmp:
            faiss.write_index(self.index, str(tmp))

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
