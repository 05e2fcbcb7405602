"""The index directory format: versions, the CURRENT pointer, and the manifest.

Layout of an index directory ``DIR``::

    DIR/CURRENT                 name of the published version, e.g. "v000003" (os.replace'd)
    DIR/versions/v000003/       one immutable published version
        manifest.json           everything needed to query it correctly (see Manifest)
        index.faiss             FAISS index: doc ids + vectors only
        lexical/                Tantivy index of the version's articles (BM25, filters);
                                segment files hard-linked between versions
    DIR/vectors.f16             append-only fp16 vectors, row = doc id (VectorFile)
    DIR/store.sqlite            metadata store (default SQLAlchemy URL), MVCC by version number
    DIR/.build/                 checkpoints of a build in progress (removed after publish)
    DIR/.build.lock             held by the one build that may run at a time

A reader resolves CURRENT once, then reads only that version's files and the store rows
visible at that version number; a build writes version N+1 beside it and publishes by
replacing CURRENT atomically, so readers see the old complete index or the new one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from indexer import durable
from indexer.errors import DamagedIndex, NotFoundError
from indexer.fusion import Fusion

FORMAT_VERSION = 2
"""2: the lexical index is a Tantivy directory per version (1: SQLite FTS5 / PostgreSQL
tsvector inside the store). A format-1 index is refused with how to rebuild it."""
MANIFEST_NAME = "manifest.json"
FAISS_NAME = "index.faiss"
LEXICAL_NAME = "lexical"
STORE_NAME = "store.sqlite"
VECTORS_NAME = "vectors.f16"
_VERSION_RE = re.compile(r"^v(\d{6,})$")


class IndexFormatError(DamagedIndex, RuntimeError):
    """The index directory's files are damaged, missing or in an incompatible format (exit 3)."""


class NoPublishedIndex(NotFoundError, RuntimeError):
    """The directory holds no published index (nothing built there yet, or not a directory)."""


def package_version() -> str:
    try:
        return metadata.version("pubmed-search")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


@dataclass
class EncoderInfo:
    """How vectors were made; a reader must encode queries the same way."""

    model: str
    fingerprint: str
    pooling: str = "mean"
    max_length: int = 512
    normalize: bool = True
    dim: int = 0
    quantize: str = "none"  # queries are encoded the same way (int8: dynamic, per channel)
    query_model: str | None = None
    query_fingerprint: str | None = None
    query_max_length: int | None = None
    query_pooling: str | None = None
    # A local model directory is recorded twice: ``model`` / ``query_model`` hold its absolute
    # path, these its path relative to the index directory (None: a hub id, or an old index).
    model_relpath: str | None = None
    query_model_relpath: str | None = None


@dataclass
class Manifest:
    version: int
    encoder: EncoderInfo
    faiss_factory: str
    faiss_params: dict[str, Any] = field(default_factory=dict)
    metric: str = "inner_product"
    next_doc_id: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    store_url: str | None = None  # None: the SQLite store inside the directory
    built_at: str = ""
    package_version: str = field(default_factory=package_version)
    format_version: int = FORMAT_VERSION
    inputs: list[str] = field(default_factory=list)
    built_in: str | None = None  # the index directory's absolute path when it was built
    lexical: dict[str, Any] = field(default_factory=dict)  # indexer.lexical.Analysis
    ledger: list[dict[str, Any]] = field(default_factory=list)  # indexer.build.ledger
    # How hybrid queries fuse the two sides (indexer.fusion); None: written before fusion was
    # recorded, read as the default (equal-weight RRF, k = 60). See :attr:`hybrid_fusion`.
    fusion: Fusion | None = None

    @property
    def hybrid_fusion(self) -> Fusion:
        return self.fusion if self.fusion is not None else Fusion()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        if d.get("format_version") == 1:
            raise IndexFormatError(
                "this index was built by an earlier pubmed-search (index format 1, lexical "
                "search inside the store); this version reads format "
                f"{FORMAT_VERSION} (a Tantivy lexical index per version). Rebuild it into a "
                "new directory: pubmed-search build --index NEW_DIR INPUT... (the same "
                "inputs and --model), then serve NEW_DIR"
            )
        if d.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format {d.get('format_version')!r} is not supported "
                f"(this pubmed-search reads format {FORMAT_VERSION}); rebuild the index"
            )
        d = dict(d)
        d["encoder"] = EncoderInfo(**d["encoder"])
        if d.get("fusion") is not None:
            d["fusion"] = Fusion.from_dict(d["fusion"])
        return cls(**d)


def version_name(version: int) -> str:
    return f"v{version:06d}"


class IndexDir:
    """An index directory on disk (see module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # paths -----------------------------------------------------------------
    @property
    def current_file(self) -> Path:
        return self.root / "CURRENT"

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    @property
    def build_dir(self) -> Path:
        return self.root / ".build"

    @property
    def lock_file(self) -> Path:
        return self.root / ".build.lock"

    @property
    def store_path(self) -> Path:
        return self.root / STORE_NAME

    @property
    def vectors_path(self) -> Path:
        return self.root / VECTORS_NAME

    def default_store_url(self) -> str:
        return f"sqlite:///{self.store_path.resolve()}"

    def version_dir(self, version: int) -> Path:
        return self.versions_dir / version_name(version)

    def faiss_path(self, version: int) -> Path:
        return self.version_dir(version) / FAISS_NAME

    def lexical_path(self, version: int) -> Path:
        return self.version_dir(version) / LEXICAL_NAME

    # reading ---------------------------------------------------------------
    def current_version(self) -> int | None:
        """The published version number, or None if nothing was ever published."""
        try:
            name = self.current_file.read_text().strip()
        except FileNotFoundError:
            return None
        m = _VERSION_RE.match(name)
        if not m:
            raise IndexFormatError(f"{self.current_file}: unexpected content {name!r}")
        return int(m.group(1))

    def read_manifest(self, version: int | None = None) -> Manifest:
        """The manifest of ``version`` (default: the published one); validated."""
        if version is None:
            version = self.current_version()
            if version is None:
                raise NoPublishedIndex(
                    f"{self.root} holds no published index: run `pubmed-search build --index "
                    f"{self.root} INPUT...` first"
                )
        path = self.version_dir(version) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise IndexFormatError(f"{path} is missing: the index is damaged") from e
        except json.JSONDecodeError as e:
            raise IndexFormatError(f"{path} is not valid JSON ({e}): the index is damaged") from e
        except (OSError, UnicodeDecodeError) as e:
            raise IndexFormatError(f"{path} cannot be read ({e}): the index is damaged") from e
        try:
            manifest = Manifest.from_dict(data)
        except (TypeError, KeyError, AttributeError, ValueError) as e:
            raise IndexFormatError(f"{path} is not a manifest ({e!r}): the index is damaged") from e
        if manifest.version != version:
            raise IndexFormatError(f"{path} says version {manifest.version}, expected {version}")
        return manifest

    def published_versions(self) -> list[int]:
        if not self.versions_dir.is_dir():
            return []
        out = []
        for p in self.versions_dir.iterdir():
            m = _VERSION_RE.match(p.name)
            if m and (p / MANIFEST_NAME).exists():
                out.append(int(m.group(1)))
        return sorted(out)

    # writing ---------------------------------------------------------------
    def write_manifest(self, manifest: Manifest) -> None:
        vdir = self.version_dir(manifest.version)
        vdir.mkdir(parents=True, exist_ok=True)
        durable.write_text(vdir / MANIFEST_NAME, manifest.to_json())

    def publish(self, version: int) -> None:
        """Make ``version`` the one readers open: fsync its files, then replace CURRENT."""
        vdir = self.version_dir(version)
        if not (vdir / MANIFEST_NAME).exists():
            raise IndexFormatError(f"cannot publish {vdir}: it has no manifest")
        durable.fsync_tree(vdir)
        durable.fsync_dir(self.versions_dir)
        durable.write_text(self.current_file, version_name(version) + "\n")

    def remove_old_versions(self, keep: int = 2) -> list[int]:
        """Delete all but the newest ``keep`` published versions (never the current one)."""
        current = self.current_version()
        versions = [v for v in self.published_versions() if v != current]
        doomed = versions[: max(0, len(versions) - (keep - 1))]
        for v in doomed:
            shutil.rmtree(self.version_dir(v), ignore_errors=True)
        return doomed
