"""Build settings: defaults in one place, overridable by CLI flags and PUBMED_SEARCH_* variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from indexer.errors import InvalidParameter
from indexer.manifest import EncoderInfo
from indexer.models.device import DEVICES, QUANTIZATIONS
from indexer.models.encoder import DEFAULT_MODEL, EncoderConfig
from indexer.models.pooling import POOLINGS
from indexer.store.engine import parse_url
from indexer.tune.settings import TUNING_FILE
from indexer.vectors.types import is_named, resolve_factory

ENV_PREFIX = "PUBMED_SEARCH_"


@dataclass
class BuildSettings:
    """Everything `pubmed-search build` can be told.

    Each field may also come from the environment as ``PUBMED_SEARCH_<FIELD>`` (e.g.
    ``PUBMED_SEARCH_MODEL``, ``PUBMED_SEARCH_BATCH_SIZE``); CLI flags win over the environment.
    """

    # None: taken from the index's manifest when updating an index, else the default below.
    model: str | None = None
    pooling: str | None = None
    max_length: int | None = None
    batch_size: int = 16
    index_type: str = "auto"
    quantize: str | None = None
    device: str = "auto"
    db_url: str | None = None
    chunk_size: int = 1024
    ingest_batch: int = 2000
    query_model: str | None = None
    query_pooling: str | None = None
    query_max_length: int | None = None
    keep_versions: int = 2
    show_progress: bool = True
    strict: bool = False  # stop at the first input file that breaks off (else: go on, report)
    force: bool = False  # apply inputs the ledger holds, and NLM files out of order
    replace: bool = False  # the inputs are the whole collection: delete articles not in them
    calibrate: bool = True  # measure the hybrid fusion on the collection (build.calibrate)

    @classmethod
    def from_env(cls, overrides: dict[str, Any] | None = None) -> BuildSettings:
        """Defaults, then PUBMED_SEARCH_* variables, then ``overrides`` that are not None."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = str(f.type)
            if kind.startswith("bool"):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif kind.startswith("int"):
                values[f.name] = int(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(**values)

    def validate(self, dim: int | None = None) -> BuildSettings:
        """Refuse values a build cannot use, before it does any work; returns ``self``.

        Raises InvalidParameter naming the option (``--batch-size: ...``). With ``dim`` (the
        model's vector size, known once it is loaded) a raw FAISS factory string in
        ``index_type`` is also built once to check it; named types are checked without it.
        """
        for name in ("batch_size", "chunk_size", "ingest_batch", "keep_versions"):
            _check_int(name, getattr(self, name), 1)
        for name in ("max_length", "query_max_length"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 8, 8192)
        for name, allowed in (
            ("pooling", POOLINGS),
            ("query_pooling", POOLINGS),
            ("quantize", QUANTIZATIONS),
            ("device", DEVICES),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidParameter(
                    f"{_flag(name)}: must be one of {', '.join(allowed)}, got {value!r}"
                )
        if not isinstance(self.index_type, str) or not self.index_type.strip():
            got = self.index_type
            raise InvalidParameter(f"--index-type: {INDEX_TYPES} or a factory string, got {got!r}")
        if dim is not None and not is_named(self.index_type):
            try:
                resolve_factory(self.index_type, 1, dim)
            except ValueError as e:
                raise InvalidParameter(f"--index-type: {e} (or a named type: {INDEX_TYPES})") from e
        if self.db_url:
            parse_url(self.db_url)  # StoreURLError: malformed, unsupported backend
        return self

    def resolved(self, existing: EncoderInfo | None) -> BuildSettings:
        """Fill unset encoder options from an existing index's manifest, else the defaults.

        A new index over a model made by ``pubmed-search tune`` takes the pooling it was tuned
        with (from its ``pubmed_search_tuning.json``): other pooling would waste the tuning.
        """
        model = self.model or (existing.model if existing else DEFAULT_MODEL)
        fill = {
            "model": model,
            "pooling": existing.pooling if existing else tuned_pooling(model) or "mean",
            "max_length": existing.max_length if existing else 512,
            "quantize": existing.quantize if existing else "none",
        }
        if existing and existing.query_model:
            fill.update(
                query_model=existing.query_model,
                query_pooling=existing.query_pooling,
                query_max_length=existing.query_max_length,
            )
        values = {k: v for k, v in fill.items() if getattr(self, k) is None}
        return replace(self, **values)

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            model=self.model,
            pooling=self.pooling,
            max_length=self.max_length,
            quantize=self.quantize,
            device=self.device,
            batch_size=self.batch_size,
        )

    def query_encoder_config(self) -> EncoderConfig | None:
        if not self.query_model:
            return None
        return EncoderConfig(
            model=self.query_model,
            pooling=self.query_pooling or self.pooling,
            max_length=self.query_max_length or 64,
            device=self.device,
            batch_size=self.batch_size,
        )


def tuned_pooling(model: str) -> str | None:
    """The pooling a ``pubmed-search tune`` output directory was trained with, if it is one."""
    report = Path(model) / TUNING_FILE
    try:
        pooling = json.loads(report.read_text())["settings"]["pooling"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pooling if pooling in POOLINGS else None


INDEX_TYPES = "auto|flat|hnsw|ivf|ivfpq|ivfpqM|opq|opqM|sq8|sqfp16"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise InvalidParameter(f"{_flag(name)}: must be an integer {bound}, got {value!r}")
