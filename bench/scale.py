"""Index types at PubMed scale: build time, bytes/article, latency and recall@10 vs exact.

Synthetic collections (default 1M and 2M vectors, 768 dims) drawn from a clustered
distribution that looks more like sentence embeddings than uniform noise does: a Gaussian
mixture of ``--centres`` unit centres with Zipf-like weights, anisotropic noise (a power-law
spectrum under a random rotation) plus a rank-8 per-cluster component, normalised. Queries are
held-out points of the same distribution, perturbed. Vectors are cached as fp16 (the product's
``vectors.f16``) under ``--cache``; every index is built from those fp16 rows and ground truth
is exact inner-product search over them.

IVF types share one trained coarse quantizer and one coarse assignment per size (trained and
computed once; its time is added to every IVF type's build time); OPQ reuses it rotated
(an orthogonal rotation preserves inner products, so the assignment is the same).
Latency: single queries, ``--threads`` OpenMP threads (default 1: a server answers one request
per core), re-scoring from the memory-mapped fp16 file included. Run ``make bench-scale``
(``nice`` it on a shared machine); ``--sizes 200000`` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stats import percentile
from indexer.vectors import VectorIndex, train_sample_size
from indexer.vectors.types import (
    HNSW_EF_CONSTRUCTION,
    NPROBE_LOSSY,
    PQ_M_AUTO,
    RESCORE_DEPTH,
    _nlist,
)

PUBMED = 36_000_000
RAM_TARGET = 8e9
CACHE = Path(__file__).resolve().parent / "cache" / "scale"
CHUNK = 50_000
SEED = 20240611


# data ------------------------------------------------------------------------------------------
class Mixture:
    def __init__(self, dim: int, centres: int, seed: int = SEED) -> None:
        rng = np.random.default_rng([seed, 0])
        self.dim = dim
        spectrum = (1.0 + np.arange(dim)) ** -0.8
        self.scale = np.sqrt(spectrum / spectrum.mean()).astype(np.float32)
        self.rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        c = (rng.standard_normal((centres, dim)).astype(np.float32) * self.scale) @ self.rot.T
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        w = (1.0 + rng.permutation(centres)) ** -0.7
        self.weights = w / w.sum()
        self.low = (rng.standard_normal((centres, 8, dim)) * (0.5 / math.sqrt(8 * dim))).astype(
            np.float32
        )
        self.seed = seed

    def sample(self, m: int, stream: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1, stream])
        lab = rng.choice(len(self.centres), m, p=self.weights)
        g = (rng.standard_normal((m, self.dim)).astype(np.float32) * self.scale) @ self.rot.T
        x = self.centres[lab] + g * (0.6 / math.sqrt(self.dim))
        r = rng.standard_normal((m, 8)).astype(np.float32)
        x += np.einsum("mr,mrd->md", r, self.low[lab])
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def base_vectors(cache: Path, mix: Mixture, n: int) -> np.memmap:
    """fp16 rows [0, n) (cached; generated in seeded chunks, so larger n extends smaller)."""
    path = cache / f"base-{mix.dim}-{len(mix.centres)}.f16"
    row = mix.dim * 2
    have = path.stat().st_size // row if path.exists() else 0
    if have < n:
        t = time.perf_counter()
        with open(path, "ab") as f:
            f.truncate(have * row)
            for start in range(have - have % CHUNK, n, CHUNK):
                m = min(CHUNK, n - start)
                x = mix.sample(CHUNK, start // CHUNK)[:m]
                f.seek(start * row)
                f.write(x.astype(np.float16).tobytes())
        print(f"generated {n - have} vectors in {time.perf_counter() - t:.0f}s", flush=True)
    return np.memmap(path, np.float16, "r", shape=(n, mix.dim))


def queries(mix: Mixture, nq: int) -> np.ndarray:
    q = mix.sample(nq, 10**6)  # held out: a stream the collection never uses
    q += np.random.default_rng(7).standard_normal(q.shape).astype(np.float32) * 0.02
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def f32(base: np.memmap, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(base[start:stop], dtype=np.float32)


def ground_truth(cache: Path, base: np.memmap, q: np.ndarray, n: int, k: int = 10) -> np.ndarray:
    path = cache / f"gt-{n}-{len(q)}-{base.shape[1]}.npy"
    if path.exists():
        return np.load(path)
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.zeros((len(q), k), np.int64)
    for start in range(0, n, 200_000):
        x = f32(base, start, min(n, start + 200_000))
        s = q @ x.T
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        ci = np.concatenate([best_i, top + start], 1)
        o = np.argsort(-cs, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    np.save(path, best_i)
    return best_i


# measuring -------------------------------------------------------------------------------------
def rescore(base: np.memmap, q: np.ndarray, cand: np.ndarray, k: int = 10) -> np.ndarray:
    cand = cand[cand >= 0]
    s = np.asarray(base[np.sort(cand)], dtype=np.float32) @ q
    return np.sort(cand)[np.argsort(-s, kind="stable")[:k]]


def recall(got: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(got, gt, strict=True)]))


def measure(vi: VectorIndex, base, q, gt, lat_q: int, threads: int, **kw) -> dict:
    """recall@10 (all queries) and single-query p50/p99 latency (first ``lat_q`` queries)."""
    depth = kw.pop("rescore", 0)
    fetch = depth or 10
    got = []
    times = []
    faiss.omp_set_num_threads(threads)
    for i, qi in enumerate(q):
        t = time.perf_counter()
        _, ids = vi.search(qi[None], fetch, **kw)
        top = rescore(base, qi, ids[0]) if depth else ids[0][:10]
        if i < lat_q:
            times.append(time.perf_counter() - t)
        got.append(top)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    ms = np.array(times) * 1000
    return {
        "recall@10": round(recall(np.array(got), gt), 4),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "queries": len(q),
        "latency_queries": len(times),
    }


def index_bytes(vi: VectorIndex, cache: Path) -> int:
    path = cache / "tmp.faiss"
    faiss.write_index(vi.index, str(path))
    size = path.stat().st_size
    path.unlink()
    return size


# building --------------------------------------------------------------------------------------
def add_all(vi: VectorIndex, base, n: int, assign: np.ndarray | None = None) -> None:
    ivf = faiss.downcast_index(faiss.extract_index_ivf(vi.index)) if assign is not None else None
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        x = f32(base, start, stop)
        ids = np.arange(start, stop, dtype=np.int64)
        if ivf is None:
            vi.add(ids, x)
            continue
        if vi._pretransform:
            x = vi._opq.apply_py(x)  # type: ignore[attr-defined]
        a = np.ascontiguousarray(assign[start:stop])
        ivf.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(a), None)
    if ivf is not None and vi._pretransform:
        vi.index.ntotal = ivf.ntotal


def coarse(base, n: int, dim: int, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    nlist = _nlist(n)
    t = time.perf_counter()
    ivf = VectorIndex.create(dim, f"IVF{nlist},Flat")
    ivf.train(sample)
    train_s = time.perf_counter() - t
    centroids = faiss.extract_index_ivf(ivf.index).quantizer.reconstruct_n(0, nlist)
    quant = faiss.IndexFlatIP(dim)
    quant.add(centroids)
    t = time.perf_counter()
    assign = np.empty(n, np.int64)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        assign[start:stop] = quant.search(f32(base, start, stop), 1)[1][:, 0]
    timing = {"nlist": nlist, "train_s": train_s, "assign_s": time.perf_counter() - t}
    return centroids, assign, timing


def ivf_variant(kind: str, dim: int, centroids: np.ndarray, sample: np.ndarray) -> VectorIndex:
    """An IVF index of ``kind`` on the shared coarse centroids, its codes trained on ``sample``."""
    nlist = len(centroids)
    q = faiss.IndexFlatIP(dim)
    ip = faiss.METRIC_INNER_PRODUCT
    opq = None
    if kind.startswith("opq"):
        m = int(kind[3:])
        opq = faiss.OPQMatrix(dim, m)
        opq.train(sample)
        q.add(opq.apply_py(centroids))
    else:
        q.add(centroids)
    if kind == "ivf":
        idx, factory = faiss.IndexIVFFlat(q, dim, nlist, ip), f"IVF{nlist},Flat"
    elif kind in ("sq8", "sqfp16"):
        qt = faiss.ScalarQuantizer.QT_8bit if kind == "sq8" else faiss.ScalarQuantizer.QT_fp16
        idx = faiss.IndexIVFScalarQuantizer(q, dim, nlist, qt, ip)
        factory = f"IVF{nlist},{'SQ8' if kind == 'sq8' else 'SQfp16'}"
    else:
        m = int(kind.lstrip("opqivf"))
        idx, factory = faiss.IndexIVFPQ(q, dim, nlist, m, 8, ip), f"IVF{nlist},PQ{m}x8"
    idx.own_fields = True
    q.this.disown()
    if not idx.is_trained:
        idx.train(opq.apply_py(sample) if opq is not None else sample)
    idx.nprobe = NPROBE_LOSSY
    index: faiss.Index = idx
    if opq is not None:
        index = faiss.IndexPreTransform(opq, idx)
        index.own_fields = True
        idx.this.disown()
        opq.this.disown()
        factory = f"OPQ{m},{factory}"
    vi = VectorIndex(index, factory)
    vi._opq = opq  # type: ignore[attr-defined]
    return vi


def build_hnsw(base, n: int, dim: int, cap_s: float) -> tuple[VectorIndex, int, float]:
    vi = VectorIndex.create(dim, "IDMap2,HNSW32")
    t = time.perf_counter()
    added = 0
    while added < n and time.perf_counter() - t < cap_s:
        stop = min(n, added + 10_000)
        vi.add(np.arange(added, stop, dtype=np.int64), f32(base, added, stop))
        added = stop
    return vi, added, time.perf_counter() - t


# the run ---------------------------------------------------------------------------------------
def run_size(n: int, args, mix: Mixture, q: np.ndarray, rows: list[dict]) -> None:
    dim = mix.dim
    base = base_vectors(args.cache, mix, n)
    truth = {n: ground_truth(args.cache, base, q, n)}

    def report(name: str, vi: VectorIndex, build_s: float, nvec: int, sweep: list[dict]) -> None:
        nbytes = index_bytes(vi, args.cache)
        if nvec not in truth:
            truth[nvec] = ground_truth(args.cache, base, q, nvec)
        for kw in sweep:
            m = measure(vi, base, q, truth[nvec], args.latency_queries, args.threads, **kw)
            row = {
                "n": nvec,
                "type": name,
                "factory": vi.factory,
                **kw,
                "build_s": round(build_s, 1),
                "ram_B_per_article": round(nbytes / nvec, 1),
                "disk_B_per_article": round(nbytes / nvec + 2 * dim, 1),
                **m,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    ivf_types = [t for t in args.types if t not in ("flat", "hnsw")]
    if ivf_types:
        run_ivf(n, args, base, ivf_types, report)
    if "flat" in args.types:
        t = time.perf_counter()
        vi = VectorIndex.create(dim, "IDMap2,Flat")
        add_all(vi, base, n)
        report("flat", vi, time.perf_counter() - t, n, [{}])
        del vi
    if "hnsw" in args.types and n == min(args.sizes):
        want = min(n, args.hnsw_size)
        vi, added, secs = build_hnsw(base, want, dim, args.hnsw_cap)
        if added < want:
            print(f"HNSW32: time cap {args.hnsw_cap}s reached after {added} vectors", flush=True)
        sweep = [{"ef_search": ef} for ef in (64, 128, 256)]
        report(f"hnsw32(efC={HNSW_EF_CONSTRUCTION})", vi, secs, added, sweep)
        del vi


def run_ivf(n: int, args, base, ivf_types: list[str], report) -> None:
    dim = base.shape[1]
    rng = np.random.default_rng(0)
    take = min(train_sample_size(n, f"IVF{_nlist(n)},Flat"), args.train_max)
    rows_idx = np.sort(rng.choice(n, take, replace=False))
    sample = np.concatenate(
        [
            np.asarray(base[rows_idx[(rows_idx >= s) & (rows_idx < s + CHUNK)]], np.float32)
            for s in range(0, n, CHUNK)
        ]
    )
    centroids, assign, timing = coarse(base, n, dim, sample)
    shared = timing["train_s"] + timing["assign_s"]
    print(f"coarse quantizer: {timing} on {take} training vectors", flush=True)
    pq_sample = sample[: min(len(sample), 65_536)]
    for kind in ivf_types:
        t = time.perf_counter()
        vi = ivf_variant(kind, dim, centroids, sample if kind == "ivf" else pq_sample)
        add_all(vi, base, n, assign)
        build_s = time.perf_counter() - t + shared
        probes = [p for p in (16, 32, 64, 128) if p <= timing["nlist"]]
        depths = [0, 100, RESCORE_DEPTH] if kind != "ivf" else [0]
        sweep = [{"nprobe": p, "rescore": d} for p in probes for d in depths]
        report(kind, vi, build_s, n, sweep)
        del vi


def project(rows: list[dict]) -> tuple[list[dict], dict | None]:
    """Per-type projection to PUBMED articles from the largest measured size."""
    out = []
    largest = max(r["n"] for r in rows)
    for r in rows:
        n = r["n"]
        f = PUBMED / n
        t = r["type"]
        if t == "flat":
            lat = r["p50_ms"] * f
        elif t.startswith("hnsw"):
            lat = r["p50_ms"] * math.log(PUBMED) / math.log(n)
        else:
            lat = r["p50_ms"] * math.sqrt(f)  # nlist ~ sqrt(n): list lengths and centroids
        build = r["build_s"] * f * (1 if t == "flat" or t.startswith("hnsw") else math.sqrt(f))
        out.append(
            {
                **r,
                "proj_ram_GB": round(r["ram_B_per_article"] * PUBMED / 1e9, 1),
                "proj_disk_GB": round(r["disk_B_per_article"] * PUBMED / 1e9, 1),
                "proj_p50_ms": round(lat, 1),
                "proj_build_h_2cores": round(build / 3600, 1),
                "from_n": n,
                "largest": n == largest,
            }
        )
    ok = [
        p
        for p in out
        if p["largest"]
        and p["recall@10"] >= 0.95
        and p["proj_ram_GB"] * 1e9 <= RAM_TARGET
        and p["p50_ms"] <= 20
    ]
    best = min(ok, key=lambda p: (p["proj_ram_GB"] > 4, p["p50_ms"])) if ok else None
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000])
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--centres", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--latency-queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads per query")
    ap.add_argument("--hnsw-size", type=int, default=1_000_000)
    ap.add_argument("--hnsw-cap", type=float, default=900, help="seconds to build HNSW")
    ap.add_argument("--train-max", type=int, default=200_000, help="IVF training vectors")
    ap.add_argument(
        "--types",
        nargs="+",
        default=[f"ivfpq{PQ_M_AUTO}", "ivf", "sq8", f"opq{PQ_M_AUTO}", "ivfpq128", "flat", "hnsw"],
    )
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--json", type=Path, default=None, help="write all rows here")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    mix = Mixture(args.dim, args.centres)
    q = queries(mix, args.queries)
    print(
        f"bench-scale: sizes {args.sizes}, dim {args.dim}, {args.centres} centres, "
        f"{args.queries} queries, {args.threads} thread(s)/query, machine: "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows: list[dict] = []
    for n in sorted(args.sizes):
        run_size(n, args, mix, q, rows)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    proj, best = project(rows)
    print("\nprojection to 36M articles (from each row's measured size):")
    cols = ["type", "nprobe", "ef_search", "rescore", "from_n", "recall@10", "p50_ms"]
    cols += ["proj_ram_GB", "proj_disk_GB", "proj_p50_ms", "proj_build_h_2cores"]
    print("  ".join(cols))
    for p in proj:
        print("  ".join(str(p.get(c, "")) for c in cols))
    if best:
        print(
            f"\nrecommended: {best['factory']} nprobe={best.get('nprobe')} rescore="
            f"{best.get('rescore')} -> recall@10 {best['recall@10']}, p50 {best['p50_ms']} ms "
            f"at {best['n']}; 36M: {best['proj_ram_GB']} GB RAM, {best['proj_disk_GB']} GB disk"
        )
    else:
        print("\nno measured configuration meets recall>=0.95, <=8 GB at 36M and p50<=20 ms")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "projection": proj, "best": best}, indent=1))


if __name__ == "__main__":
    main()
