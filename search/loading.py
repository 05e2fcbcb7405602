"""Opening one index version for reading: its store, FAISS index, vectors and query encoder.

The query encoder is loaded with exactly the configuration the manifest records (pooling,
max length, normalisation) and must have the manifest's weight fingerprint: vectors of
another model would make the nearest neighbours meaningless, so a mismatch is an error.
"""

from __future__ import annotations

import logging
import os
from typing import TypedDict

from indexer.errors import InvalidParameter
from indexer.lexical import Analysis, LexicalIndex
from indexer.manifest import IndexDir, Manifest
from indexer.models.encoder import ENCODER, Encoder, EncoderConfig
from indexer.models.loading import locate
from indexer.store import Store
from indexer.vectors import VectorFile, VectorIndex
from search.embedding import LRUCache, QueryEmbedder
from search.results import ModelMismatchError

log = logging.getLogger(__name__)


def query_encoder_config(
    manifest: Manifest,
    model: str | None,
    query_model: str | None,
    device: str,
    index_root: str | os.PathLike[str] = ".",
) -> tuple[EncoderConfig, str, str]:
    """(config, expected fingerprint, role) of the encoder that embeds queries.

    With an asymmetric pair (``manifest.encoder.query_model``) queries go through the query
    model; the article model is not needed to search (article vectors are stored), so only
    the query model is loaded. A recorded local model is found by
    :func:`indexer.models.loading.locate` (its absolute path, then its path relative to
    ``index_root``, the index directory); ``model`` / ``query_model`` override it.
    """
    info = manifest.encoder

    def recorded(name: str, relpath: str | None) -> str:
        return locate(ENCODER, name, relpath, index_root, manifest.built_in)

    if info.query_model:
        config = EncoderConfig(
            model=query_model or recorded(info.query_model, info.query_model_relpath),
            pooling=info.query_pooling or info.pooling,
            max_length=info.query_max_length or info.max_length,
            normalize=info.normalize,
            device=device,
            batch_size=1,
        )
        return config, info.query_fingerprint or "", "query model"
    if query_model:
        raise InvalidParameter(
            f"query_model: this index was built with one model ({info.model!r}) for articles "
            "and queries; pass --model instead"
        )
    config = EncoderConfig(
        model=model or recorded(info.model, info.model_relpath),
        pooling=info.pooling,
        max_length=info.max_length,
        normalize=info.normalize,
        quantize=info.quantize if device != "cuda" else "none",
        device=device,
        batch_size=1,
    )
    return config, info.fingerprint, "model"


def load_embedder(
    manifest: Manifest,
    *,
    index_root: str | os.PathLike[str] = ".",
    model: str | None,
    query_model: str | None,
    device: str,
    embedders: dict[str, QueryEmbedder],
    cache: LRUCache,
) -> QueryEmbedder:
    """The manifest's query embedder; reused from ``embedders`` when already loaded."""
    config, expected, role = query_encoder_config(manifest, model, query_model, device, index_root)
    key = f"{expected}|{config.pooling}|{config.max_length}|{config.normalize}"
    if key in embedders:
        return embedders[key]
    encoder = Encoder.load(config)
    recorded = manifest.encoder.query_model if role == "query model" else manifest.encoder.model
    if encoder.fingerprint != expected:
        raise ModelMismatchError(
            f"the {role} {config.model!r} has weight fingerprint {encoder.fingerprint[:16]}, "
            f"but index version {manifest.version} was built with {recorded!r} (fingerprint "
            f"{(expected or '?')[:16]}): its vectors would be meaningless for these queries. "
            "Pass --model with a copy of the model the index was built with, or rebuild."
        )
    if manifest.encoder.dim and encoder.dim != manifest.encoder.dim:
        raise ModelMismatchError(
            f"the {role} {config.model!r} makes {encoder.dim}-dimensional vectors; the index "
            f"holds {manifest.encoder.dim}-dimensional ones"
        )
    embedder = QueryEmbedder(encoder, key, cache)
    embedders[key] = embedder
    return embedder


class StateParts(TypedDict):
    """What :func:`load_state_parts` opens: :class:`search.engine.IndexState` fields."""

    index: VectorIndex
    lexical: LexicalIndex
    store: Store  # read-only
    vectors: VectorFile  # read-only
    embedder: QueryEmbedder
    model: str  # the model that embeds queries


def load_state_parts(
    index_dir: IndexDir,
    manifest: Manifest,
    *,
    model: str | None,
    query_model: str | None,
    device: str,
    embedders: dict[str, QueryEmbedder],
    cache: LRUCache,
) -> StateParts:
    """Keyword arguments for :class:`search.engine.IndexState` (the version's files and query
    embedder; the engine adds the manifest, version and re-scoring)."""
    embedder = load_embedder(
        manifest,
        index_root=index_dir.root,
        model=model,
        query_model=query_model,
        device=device,
        embedders=embedders,
        cache=cache,
    )
    dim = manifest.encoder.dim or embedder.encoder.dim
    index = VectorIndex.load(index_dir.faiss_path(manifest.version), mmap=True)  # shared pages
    vectors = VectorFile(index_dir.vectors_path, dim, readonly=True)
    lexical = LexicalIndex(
        index_dir.lexical_path(manifest.version), Analysis.from_dict(manifest.lexical)
    )
    store = Store(manifest.store_url or index_dir.default_store_url(), readonly=True)
    query_name = manifest.encoder.query_model or manifest.encoder.model
    return StateParts(
        index=index,
        lexical=lexical,
        store=store,
        vectors=vectors,
        embedder=embedder,
        model=query_name,
    )
