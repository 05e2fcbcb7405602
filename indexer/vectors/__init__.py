"""Vectors: the FAISS index over doc ids, its index types, and the fp16 side file.

Public names: :class:`VectorIndex` (``indexer.vectors.index``), :class:`VectorFile`
(``indexer.vectors.file``, ``vectors.f16``) and, from ``indexer.vectors.types``,
:func:`resolve_factory`, :func:`train_sample_size`, :func:`is_lossy`, :func:`rescore_depth`,
:func:`describe`.
The index types' default parameters are constants of ``indexer.vectors.types``.
"""

from indexer.vectors.file import VectorFile
from indexer.vectors.index import VectorIndex
from indexer.vectors.types import (
    describe,
    is_lossy,
    rescore_depth,
    resolve_factory,
    train_sample_size,
)

__all__ = [
    "VectorFile",
    "VectorIndex",
    "describe",
    "is_lossy",
    "rescore_depth",
    "resolve_factory",
    "train_sample_size",
]
