"""The fp16 side store ``vectors.f16``: one row per doc id, memory-mapped.

It keeps an exact (fp16) copy of every vector beside the FAISS index: the search side
re-scores lossy (PQ/SQ) candidates, scores small filtered subsets and finds similar
articles from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from indexer import durable
from indexer.manifest import IndexFormatError


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
        if not self.path.exists():
            if readonly:
                raise IndexFormatError(f"{self.path} is missing: the index is damaged")
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
            durable.fsync_file(self.path)

    def close(self) -> None:
        if self._mm is not None and not self.readonly:
            self._mm.flush()
        self._mm = None
