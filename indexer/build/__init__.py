"""Building an index directory: ingest, encode, FAISS, publish; resumable after a kill.

Public names: :func:`build`, :class:`BuildSettings`, :class:`BuildSummary`,
:class:`BuildError`. Modules: ``pipeline`` (the steps), ``settings``, ``checkpoint``
(``DIR/.build/``), ``distributed`` (the heavy steps on Ray; imported only with ``--ray``).
"""

from indexer.build.pipeline import BuildError, BuildSummary, build
from indexer.build.settings import BuildSettings

__all__ = ["BuildError", "BuildSettings", "BuildSummary", "build"]
