"""`pubmed-search build --ray [ADDRESS]`: the build pipeline with its heavy steps on Ray.

The pipeline, checkpoints and published format are those of :func:`indexer.build.build`
(it is called with a :class:`RayRunner`); only where three steps run changes:

- *Parse*: one Ray task per input file (``iter_records`` on a worker; input paths must be
  readable on the workers, e.g. a shared filesystem). The driver applies the parsed records
  to the store in input order, in the same batches, so the store's doc-id counter and MVCC
  rows are exactly those of a single-process build (metadata goes to ``--db``: PostgreSQL for
  a shared deployment).
- *Embed*: windows of ``window_chunks`` checkpoint chunks go through Ray Data
  ``map_batches`` over a pool of model actors (one :class:`~indexer.models.encoder.Encoder` each;
  ``concurrency`` actors of ``cpus_per_actor`` CPUs, or one GPU each with ``--device cuda``);
  the driver writes the same ``.build/chunks/chunk-*.npz`` files, so a killed build resumes
  after the last chunk written (with or without Ray).
- *Index*: the driver trains the index (same sample, same seed), then ``shards`` Ray tasks
  each add a contiguous, doc-id-ordered slice of the vectors to an empty copy sharing the
  trained quantizer; the driver merges them in order (IVF lists concatenated with
  ``merge_from``, flat rows concatenated): the same index a single process builds. HNSW is
  built in the driver (graphs do not merge).

Ray is optional (``pip install 'pubmed-search[distributed]'``) and imported only here.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.build.checkpoint import chunks_progress, write_chunk
from indexer.build.errors import BuildError
from indexer.build.pipeline import build
from indexer.build.settings import BuildSettings
from indexer.build.summary import BuildSummary
from indexer.errors import Unavailable
from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.models.encoder import Encoder, EncoderConfig
from indexer.vectors.index import VectorIndex

log = logging.getLogger(__name__)

LOCAL = ("", "local", None)
SHARD_MIN = 50_000  # fewer new vectors than this are added in the driver


class RayUnavailable(BuildError, Unavailable):
    """Ray is not installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(
            "--ray needs Ray, an optional extra: pip install 'pubmed-search[distributed]' "
            "(or run the build without --ray)"
        ) from e
    return ray


def _parse_file(path: str) -> tuple[list, SourceStats, str | None]:
    """(records, stats, the reason the file broke off or None): the records before a fault
    are kept, as a single-process build keeps them."""
    stats, records = SourceStats(), []
    try:
        records.extend(iter_records(Path(path), stats))
    except SourceError as e:
        return records, stats, e.reason
    return records, stats, None


def _add_shard(template: bytes, ids: np.ndarray, x: np.ndarray) -> bytes:
    import faiss

    shard = VectorIndex(faiss.deserialize_index(np.frombuffer(template, np.uint8)), "shard")
    shard.add(ids, x)
    return faiss.serialize_index(shard.index).tobytes()


class _EmbedActor:
    """Holds one encoder; Ray Data calls it on batches of {doc_id, text}."""

    def __init__(self, config: EncoderConfig, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.encoder = Encoder.load(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"doc_id": np.asarray(batch["doc_id"], np.int64), "vector": vectors}


class RayRunner:
    """Runs parse / embed / index-add on a Ray cluster for :func:`indexer.build.build`."""

    def __init__(
        self,
        address: str | None = None,
        *,
        concurrency: int | None = None,
        cpus_per_actor: int = 1,
        window_chunks: int = 8,
        shards: int | None = None,
        shard_min: int = SHARD_MIN,
        prefetch: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.ray = ray = import_ray()
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, **(init_kwargs or {})}
            if address not in LOCAL:
                kwargs["address"] = address
            ray.init(**kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.cpus_per_actor = max(1, cpus_per_actor)
        self.concurrency = concurrency or max(1, cpus // self.cpus_per_actor)
        self.window_chunks = max(1, window_chunks)
        self.shards = shards or max(1, cpus)
        self.shard_min = shard_min
        self.prefetch = prefetch or max(2, cpus)
        self._parse = ray.remote(_parse_file)
        self._add = ray.remote(_add_shard)
        self._pending: dict[Path, Any] = {}
        self._queue: list[Path] = []

    # parse -------------------------------------------------------------------------------
    def plan(self, paths: Sequence[Path]) -> None:
        """Input files in build order, parsed ahead ``prefetch`` at a time."""
        self._queue = [Path(p) for p in paths]
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._pending) < self.prefetch:
            path = self._queue.pop(0)
            self._pending[path] = self._parse.remote(str(path))

    def iter_records(self, path: Path, stats: SourceStats) -> Iterator:
        ref = self._pending.pop(Path(path), None)
        if ref is None:
            self._queue = [p for p in self._queue if p != Path(path)]
            ref = self._parse.remote(str(path))
        self._fill()
        records, got, broke_off = self.ray.get(ref)
        stats.articles += got.articles
        stats.deletions += got.deletions
        stats.skipped += got.skipped
        stats.controls_dropped += got.controls_dropped
        stats.skipped_examples.extend(got.skipped_examples)
        yield from records
        if broke_off is not None:
            raise SourceError(path, broke_off)

    # embed -------------------------------------------------------------------------------
    def _embed(self, config: EncoderConfig, rows: list[tuple[int, str]], batch: int) -> dict:
        import ray.data

        ds = ray.data.from_items([{"doc_id": int(d), "text": t} for d, t in rows])
        gpu = config.device == "cuda"
        out = ds.map_batches(
            _EmbedActor,
            fn_constructor_kwargs={"config": config, "threads": self.cpus_per_actor},
            batch_size=max(1, batch),
            batch_format="numpy",
            concurrency=self.concurrency,
            num_cpus=0 if gpu else self.cpus_per_actor,
            num_gpus=1 if gpu else 0,
        )
        found: dict[int, np.ndarray] = {}
        for b in out.iter_batches(batch_format="numpy", batch_size=None):
            for d, v in zip(b["doc_id"], b["vector"], strict=True):
                found[int(d)] = np.asarray(v, np.float32)
        return found

    def encode(self, store, encoder: Encoder, staging: int, chunks_dir: Path, settings) -> int:
        chunks_dir.mkdir(parents=True, exist_ok=True)
        after, embedded = chunks_progress(chunks_dir)
        while True:
            window: list[list[tuple[int, str]]] = []
            while len(window) < self.window_chunks:
                rows = store.to_embed(staging, after, settings.chunk_size)
                if not rows:
                    break
                window.append(rows)
                after = int(rows[-1][0])
            if not window:
                return embedded
            flat = [r for rows in window for r in rows]
            per_actor = -(-len(flat) // self.concurrency)
            vectors = self._embed(encoder.config, flat, min(per_actor, 4 * settings.batch_size))
            for rows in window:  # the single-process chunk files, in doc-id order
                ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
                write_chunk(chunks_dir, ids, np.stack([vectors[int(i)] for i in ids]))
                embedded += len(ids)
            log.info("embedded %d articles on Ray", embedded)

    # index -------------------------------------------------------------------------------
    def add(self, index: VectorIndex, ids: np.ndarray, x: np.ndarray) -> None:
        import faiss

        if index._hnsw is not None or len(ids) < max(1, self.shard_min) or self.shards < 2:
            index.add(ids, x)
            return
        template = faiss.serialize_index(index.empty_clone().index).tobytes()
        ref = self.ray.put(template)
        bounds = np.linspace(0, len(ids), self.shards + 1).astype(int)
        futures = [
            self._add.remote(ref, ids[a:b], x[a:b]) for a, b in itertools.pairwise(bounds) if b > a
        ]
        for fut in futures:  # merged in doc-id order: the same lists as one sequential add
            data = np.frombuffer(self.ray.get(fut), np.uint8)
            index.merge(VectorIndex(faiss.deserialize_index(data), index.factory))


def build_distributed(
    index_dir: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    settings: BuildSettings | None = None,
    *,
    address: str | None = None,
    concurrency: int | None = None,
    runner: RayRunner | None = None,
    **runner_kwargs: Any,
) -> BuildSummary:
    """:func:`indexer.build.build` with parse, embed and index-add on Ray (``address``:
    a cluster address, or None/""/"local" for a local cluster started or attached here)."""
    runner = runner or RayRunner(address, concurrency=concurrency, **runner_kwargs)
    runner.plan([Path(p) for p in inputs])
    return build(index_dir, inputs, settings, runner=runner)
