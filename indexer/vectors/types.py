"""FAISS index types: named types -> factory strings, and their default parameters.

``resolve_factory`` turns an index type (``auto``, ``flat``, ``hnsw``, ``ivf``, ``ivfpq``,
``opq``, ``sq8``, ... or a raw FAISS factory string) into the factory string
``indexer.vectors.VectorIndex.create`` builds; ``describe`` does the reverse for a loaded
index. ``train_sample_size`` says how many vectors an IVF index is trained on, ``is_lossy``
whether the search side must re-score candidates exactly from ``vectors.f16`` and
``rescore_depth`` how many (as recorded in the index parameters).
"""

from __future__ import annotations

import math
import re
from typing import Any

import faiss

# "auto" picks an exact flat index below N_FLAT vectors. Measured on the 2-core dev VM
# (AMD EPYC, shared, load ~4), dim 768, one query, k=10, IDMap2,Flat, median of 20:
# 10k -> 3.7 ms, 25k -> 8.8 ms, 50k -> 25 ms, 100k -> 30 ms: ~10 ms is reached near 30k.
N_FLAT = 30_000
N_IVFPQ = 1_000_000  # above this, IVF-PQ (4 GB+ of fp32 vectors otherwise); re-score upstream
# IVF-PQ chosen by "auto" for large collections (bench/scale.py): 96-byte codes (8 dims per
# sub-quantizer), nprobe NPROBE_LOSSY, and at least the top RESCORE_DEPTH candidates
# re-scored exactly from vectors.f16 (memory-mapped) by the search side: ~105 bytes/article
# in RAM incl. ids.
PQ_M_AUTO = 96
NPROBE_LOSSY = 64
RESCORE_DEPTH = 400
"""Candidates of a lossy index re-scored exactly (exact fp16 *re-scoring*, not the
cross-encoder *re-ranking* of ``search.rerank``), recorded in the index parameters as
``rescore_depth``; the search side re-scores ``max(depth, 4 * n)`` for ``n`` results and,
when post-filtering, the best ``max(n, depth)`` candidates that match. Measured on the
bench's 1M collection (IVF4000,PQ48x8, nprobe 250, 40 queries): recall@10 against exact
search 0.36 without re-scoring, 0.897 / 0.973 / 1.000 re-scoring the top 100 / 200 / 400
(p50 9.7 / 11.1 / 10.5 ms on the loaded 2-core VM), 800 costs 36 ms. A depth of 200 made
narrow-filtered dense searches slower (more of them fall to the post-filter path's
candidate lookups: 20 -> 38-47 ms p50), so 400 it is."""
TRAIN_PER_LIST = 40  # training sample: ~40 points per IVF list (FAISS wants >= 39) ...
TRAIN_MIN, TRAIN_MAX = 100_000, 1_000_000  # ... within these bounds
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 64


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


_FAISS_WHERE = re.compile(r"^Error in .*? at \S+:\d+: (Error: )?")


def faiss_message(error: Exception) -> str:
    """The readable part of a FAISS error: its first line without the C++ function and file."""
    text = str(error).strip()
    return _FAISS_WHERE.sub("", text.splitlines()[0]) if text else type(error).__name__


def construct(dim: int, factory: str) -> faiss.Index:
    """A new inner-product index from a factory string; ValueError if FAISS rejects it."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except Exception as e:  # faiss raises RuntimeError with a C++ trace
        msg = faiss_message(e)
        raise ValueError(f"invalid FAISS index type or factory string {factory!r}: {msg}") from e


def extract_ivf(index: faiss.Index) -> Any | None:
    """The IVF index inside ``index`` (possibly wrapped), or None."""
    try:
        return faiss.extract_index_ivf(index)
    except Exception:
        return None


_NAMED = re.compile(r"^(ivfpq|opq)(\d*)$")
NAMED_TYPES = ("auto", "flat", "hnsw", "ivf", "sq8", "sqfp16")  # and _NAMED: ivfpqM, opqM


def is_named(index_type: str) -> bool:
    """True for a named index type (see resolve_factory), False for a raw factory string."""
    kind = index_type.strip().lower()
    return kind in NAMED_TYPES or _NAMED.match(kind) is not None


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
    index = construct(dim, t)
    if extract_ivf(index) is None and not isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
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


def sq_name(qtype: int) -> str:
    """The factory name (``SQ8``, ``SQfp16``...) of a scalar quantizer type."""
    for attr, name in _SQ_NAMES.items():
        if getattr(faiss.ScalarQuantizer, attr, None) == qtype:
            return name
    return f"SQ?{qtype}"


def describe(index: faiss.Index) -> str:
    """Best-effort factory string of a loaded index."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return "IDMap2," + describe(index.index)
    if isinstance(index, faiss.IndexPreTransform):
        inner = faiss.downcast_index(index.index)
        m = inner.pq.M if isinstance(inner, faiss.IndexIVFPQ) else index.d
        return f"OPQ{m},{describe(inner)}"
    if isinstance(index, faiss.IndexHNSWFlat):
        return f"HNSW{index.hnsw.nb_neighbors(1)}"
    if isinstance(index, faiss.IndexFlat):
        return "Flat"
    if isinstance(index, faiss.IndexIVFPQ):
        return f"IVF{index.nlist},PQ{index.pq.M}x{index.pq.nbits}"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return f"IVF{index.nlist},{sq_name(index.sq.qtype)}"
    if isinstance(index, faiss.IndexIVFFlat):
        return f"IVF{index.nlist},Flat"
    return type(index).__name__


def rescore_depth(params: dict[str, Any]) -> int:
    """The re-score depth an index's parameters (a manifest's ``faiss_params``) record.

    ``rescore_depth`` governs. Indexes written before it recorded ``rescore`` (always 200),
    which the search side never went below 400 for: they read as ``max(RESCORE_DEPTH,
    rescore)``, what they were searched with. Nothing recorded (exact indexes): the default.
    """
    if params.get("rescore_depth") is not None:
        return max(1, int(params["rescore_depth"]))
    return max(RESCORE_DEPTH, int(params.get("rescore") or 0))


def is_lossy(factory: str) -> bool:
    """True for index types whose scores approximate the inner product (PQ / SQ codes)."""
    f = factory.upper()
    return "PQ" in f or "SQ" in f or "LSH" in f
