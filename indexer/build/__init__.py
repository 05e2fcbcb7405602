"""Building an index directory: ingest, encode, FAISS, publish; resumable after a kill.

Public names: :func:`build`, :class:`BuildSettings`, :class:`BuildSummary`,
:class:`BuildError` (and its cases, in ``errors``). Modules: ``pipeline`` (the steps),
``settings``, ``checkpoint`` (``DIR/.build/``), ``distributed`` (the heavy steps on Ray;
imported only with ``--ray``).
"""

from indexer.build.errors import BuildError, InputFilesFailed, NotAnIndexDirectory
from indexer.build.pipeline import BuildSummary, build
from indexer.build.settings import BuildSettings

__all__ = [
    "BuildError",
    "BuildSettings",
    "BuildSummary",
    "InputFilesFailed",
    "NotAnIndexDirectory",
    "build",
]
