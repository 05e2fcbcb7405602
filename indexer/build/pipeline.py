"""The build pipeline: read -> store -> encode in checkpointed chunks -> FAISS -> publish.

Every step can be killed and re-run:

1. *Ingest*: each input file is streamed into the store in batches at the staging version
   ``S = published + 1``. After each committed batch the build state records how many records
   of that file are done, so a re-run skips them (re-applying is idempotent anyway). A file
   that breaks off keeps its records before the fault and is listed in
   ``BuildSummary.failed_files``; the other files are built and published
   (``settings.strict``: the first such file stops the build, nothing is published).
2. *Lexical*: the Tantivy index of S is written in ``.build/lexical`` from the published
   one (hard links) by deleting the revisions removed at S and adding those added at S
   (``indexer.build.lexical``; resumable), and moved into ``versions/vS/`` at publish.
3. *Encode*: rows added at S are embedded in chunks ordered by doc id; each chunk is saved as
   one ``.npz`` file (written to a temporary name, fsync'd, renamed), so a re-run continues
   after the last finished chunk.
4. *Index*: the previous version's FAISS index (or a new one) gets removed ids taken out and
   the new vectors added; it is written into ``versions/vS/`` beside the published version,
   and the vectors are appended to ``vectors.f16``.
5. *Publish*: the manifest of S is written, then ``CURRENT`` is replaced atomically.

The checkpoints of steps 1 to 3 (``.build/state.json``, ``.build/chunks/``) are kept by
``indexer.build.checkpoint``; this module orchestrates the steps.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy.exc

from indexer.build import ledger
from indexer.build.calibrate import build_fusion
from indexer.build.checkpoint import (
    encode_chunks,
    failed_files,
    file_key,
    ingest,
    load_chunks,
    open_state,
    remove_build_dir,
)
from indexer.build.errors import BuildError
from indexer.build.lexical import index_lexical, place
from indexer.build.lock import index_lock
from indexer.build.replace import pmids_file, sweep
from indexer.build.settings import BuildSettings
from indexer.build.summary import BuildSummary, summarise
from indexer.ingest.sources import iter_records
from indexer.lexical import DEFAULT_ANALYSIS, Analysis
from indexer.manifest import EncoderInfo, IndexDir, Manifest
from indexer.models.encoder import ENCODER, Encoder
from indexer.models.loading import locate, record_location
from indexer.store.metadata import Store
from indexer.vectors.file import VectorFile
from indexer.vectors.index import VectorIndex
from indexer.vectors.types import resolve_factory, train_sample_size

log = logging.getLogger(__name__)


__all__ = ["build"]


def _check_compatible(prev: Manifest, info: EncoderInfo, store_url: str) -> None:
    old = prev.encoder
    if (old.fingerprint, old.pooling, old.max_length, old.normalize, old.quantize) != (
        info.fingerprint,
        info.pooling,
        info.max_length,
        info.normalize,
        info.quantize,
    ):
        raise BuildError(
            f"this index was built with model {old.model!r} (fingerprint {old.fingerprint[:12]}, "
            f"pooling {old.pooling}, max length {old.max_length}, quantize {old.quantize}); the "
            "build asked for "
            f"{info.model!r} (fingerprint {info.fingerprint[:12]}, pooling {info.pooling}, "
            f"max length {info.max_length}, quantize {info.quantize}). Vectors from different "
            "encoders cannot be mixed: "
            "build into a new --index directory, or pass the original --model."
        )
    if (prev.store_url or None) != (store_url or None):
        raise BuildError(
            f"this index keeps its metadata in {prev.store_url or 'its own SQLite store'}; "
            f"the build asked for {store_url or 'the SQLite store'}: pass the same --db"
        )


def _make_index(
    idx: IndexDir, prev: Manifest | None, settings: BuildSettings, dim: int, new_x: np.ndarray
) -> VectorIndex:
    if prev is not None:
        return VectorIndex.load(idx.faiss_path(prev.version))
    factory = resolve_factory(settings.index_type, len(new_x), dim)
    index = VectorIndex.create(dim, factory)
    if index.needs_training:
        rng = np.random.default_rng(0)
        take = min(len(new_x), train_sample_size(len(new_x), factory))
        sample = new_x[np.sort(rng.choice(len(new_x), size=take, replace=False))]
        try:
            index.train(sample)
        except Exception as e:  # too few vectors for this index type
            raise BuildError(
                f"cannot train index type {factory!r} on {len(new_x)} vectors ({e}); "
                "use --index-type flat or auto for small collections"
            ) from e
    return index


def _query_encoder_info(settings: BuildSettings, dim: int, root: Path) -> dict:
    """Load the query encoder of an asymmetric pair, check it fits, describe it for the manifest."""
    config = settings.query_encoder_config()
    if config is None:
        return {}
    query_encoder = Encoder.load(config)
    if query_encoder.dim != dim:
        raise BuildError(
            f"query model {config.model!r} makes {query_encoder.dim}-dimensional vectors but the "
            f"article model makes {dim}: a query/article pair must share one vector space"
        )
    query_model, query_relpath = record_location(config.model, root)
    return {
        "query_model": query_model,
        "query_model_relpath": query_relpath,
        "query_fingerprint": query_encoder.fingerprint,
        "query_max_length": config.max_length,
        "query_pooling": config.pooling,
    }


def _located(prev: Manifest, idx: IndexDir, settings: BuildSettings) -> EncoderInfo:
    """The published manifest's encoder, the models the build is not given found where they
    are now (the index and its models may have moved): an update without --model uses them."""
    info = prev.encoder
    model, query = info.model, info.query_model
    if not settings.model:
        model = locate(ENCODER, model, info.model_relpath, idx.root, prev.built_in)
    if query and not settings.query_model:
        query = locate(ENCODER, query, info.query_model_relpath, idx.root, prev.built_in)
    return replace(info, model=model, query_model=query)


def build(
    index_dir: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    settings: BuildSettings | None = None,
    *,
    runner: Any = None,
) -> BuildSummary:
    """Build a new index in ``index_dir`` or update the published one with ``inputs``.

    ``runner``: where the heavy steps run (indexer.build.distributed.RayRunner: parse, embed and
    add to FAISS on a Ray cluster); None runs them in this process. The store writes, the
    checkpoints and the published format are the same either way.
    """
    settings = (settings or BuildSettings()).validate()  # bad options fail before any work
    started = time.monotonic()
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.is_file():
            raise BuildError(f"input {p} does not exist or is not a file")
    with index_lock(index_dir) as idx:
        return _build_in(idx, paths, settings, started, runner)


def _build_in(
    idx: IndexDir, paths: list[Path], settings: BuildSettings, started: float, runner: Any
) -> BuildSummary:
    published = idx.current_version()
    existing = _located(idx.read_manifest(published), idx, settings) if published else None
    settings = settings.resolved(existing)
    encoder = Encoder.load(settings.encoder_config())  # fails before any work
    settings.validate(dim=encoder.dim)  # a FAISS factory string, against the model's size
    query_info = _query_encoder_info(settings, encoder.dim, idx.root)
    model, model_relpath = record_location(settings.model, idx.root)
    info = EncoderInfo(
        model=model,
        model_relpath=model_relpath,
        fingerprint=encoder.fingerprint,
        pooling=settings.pooling,
        max_length=settings.max_length,
        normalize=True,
        dim=encoder.dim,
        quantize=settings.quantize,
        **query_info,
    )
    try:
        return _build_locked(idx, paths, settings, encoder, info, started, runner)
    except (OSError, sqlalchemy.exc.OperationalError) as e:
        detail = getattr(e, "orig", None) or e  # SQLAlchemy: the driver's error, not the SQL
        raise BuildError(
            f"build failed writing {idx.root}: {detail}. The published index is unchanged; "
            "free space or fix permissions, then run the same command again to resume."
        ) from e


def _build_locked(
    idx: IndexDir,
    paths: list[Path],
    settings: BuildSettings,
    encoder: Encoder,
    info: EncoderInfo,
    started: float,
    runner: Any = None,
) -> BuildSummary:
    published = idx.current_version()
    prev = idx.read_manifest(published) if published is not None else None
    store_url = settings.db_url
    if prev is not None:
        _check_compatible(prev, info, store_url or None)
    staging = (published or 0) + 1
    fingerprint = f"{staging}|{info.fingerprint}|{settings.index_type}|{store_url}"
    past = prev.ledger if prev is not None else []
    skip = not (settings.force or settings.replace)  # a replacing build reads every input
    chosen = ledger.plan(paths, past, staging, skip=skip, order=not settings.force)
    for path, version in chosen.skipped:
        log.warning("skipping %s: already applied by version %d (ledger)", path, version)
    paths = chosen.apply
    if prev is not None and not paths:
        return summarise(prev.version, False, None, 0, started, prev, [], chosen.skipped)
    store = Store(store_url or idx.default_store_url())  # a store that cannot open: no state
    try:
        state, state_path = open_state(idx.build_dir, staging, fingerprint)
        reader = runner.iter_records if runner is not None else iter_records
        keep_pmids = (lambda key: pmids_file(idx.build_dir, key)) if settings.replace else None
        ingest(
            store,
            paths,
            state,
            state_path,
            settings.ingest_batch,
            reader,
            settings.strict,
            keep_pmids,
        )
        failed = failed_files(state, paths)
        if settings.replace:
            swept = sweep(store, (pmids_file(idx.build_dir, file_key(p)) for p in paths), staging)
            state.applied["deleted"] = state.applied.get("deleted", 0) + swept.deleted
            state.save(state_path)
        analysis = Analysis.from_dict(prev.lexical) if prev is not None else DEFAULT_ANALYSIS
        index_lexical(idx, store, prev, staging, analysis)
        chunks_dir = idx.build_dir / "chunks"
        encode = runner.encode if runner is not None else encode_chunks
        embedded = encode(store, encoder, staging, chunks_dir, settings)
        removed = store.removed_doc_ids(staging)
        ids, x = load_chunks(chunks_dir, encoder.dim)
        if ids.size:  # a later file in this build may have replaced an encoded row
            keep = np.isin(ids, store.visible_embedded_ids(staging))
            ids, x = ids[keep], x[keep]
        changes = sum(state.applied.get(k, 0) for k in ("added", "replaced", "deleted"))
        changed = bool(ids.size or removed.size or changes)
        if prev is not None and not changed:
            remove_build_dir(idx.build_dir)
            return summarise(prev.version, False, state, 0, started, prev, failed, chosen.skipped)
        index = _make_index(idx, prev, settings, encoder.dim, x)
        if removed.size:
            index.remove(removed)
        if ids.size:
            if runner is not None:
                runner.add(index, ids, x)  # shards sharing the trained quantizer, merged
            else:
                index.add(ids, x)
            vf = VectorFile(idx.vectors_path, encoder.dim)
            vf.write(ids, x)
            vf.flush()
        idx.version_dir(staging).mkdir(parents=True, exist_ok=True)
        index.save(idx.faiss_path(staging))
        counts = store.counts(staging)
        manifest = Manifest(
            version=staging,
            encoder=info,
            faiss_factory=index.factory,
            faiss_params=_faiss_params(prev, index),
            next_doc_id=store.next_doc_id(),
            counts={**counts, "vectors": int(index.ntotal)},
            store_url=store_url or None,
            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            inputs=[str(p) for p in paths],
            built_in=os.path.abspath(idx.root),
            lexical=analysis.to_dict(),
            ledger=[*past, *ledger.applied(chosen, {p for p, _ in failed})],
        )
        place(idx, staging)
        manifest.fusion = build_fusion(
            store,
            staging,
            idx.lexical_path(staging),
            analysis,
            index,
            encoder,
            idx.build_dir,
            prev.fusion if prev is not None else None,
            settings.calibrate,
            settings.query_encoder_config(),
        )
        idx.write_manifest(manifest)
        idx.publish(staging)
        remove_build_dir(idx.build_dir)
        for_gone = idx.remove_old_versions(keep=settings.keep_versions)
        kept = idx.published_versions()
        if for_gone and kept:
            store.gc(kept[0])
        return summarise(staging, True, state, embedded, started, manifest, failed, chosen.skipped)
    finally:
        store.close()


def _faiss_params(prev: Manifest | None, index: VectorIndex) -> dict[str, Any]:
    """The index's parameters, with the training sample size (kept from the first build)."""
    params = dict(prev.faiss_params) if prev is not None else {}
    params.pop("rescore", None)  # the re-score depth before it was named rescore_depth
    params.update(index.params)
    if index.train_size is not None:
        params["train_size"] = int(index.train_size)
    return params
