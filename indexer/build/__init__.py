"""Building an index directory: ingest, encode, FAISS, publish; resumable after a kill.

Public names: :func:`build`, :func:`index_lock`, :class:`BuildSettings`,
:class:`BuildSummary`, :class:`BuildError` (and its cases, in ``errors``). Modules:
``pipeline`` (the steps), ``settings``, ``checkpoint`` (``DIR/.build/``), ``lock``,
``ledger`` (applied input files), ``replace`` (replacing builds), ``summary``,
``distributed`` (the heavy steps on Ray; imported only with ``--ray``).
"""

from indexer.build.errors import BuildError, InputFilesFailed, NotAnIndexDirectory
from indexer.build.lock import index_lock
from indexer.build.pipeline import build
from indexer.build.settings import BuildSettings
from indexer.build.summary import BuildSummary

__all__ = [
    "BuildError",
    "BuildSettings",
    "BuildSummary",
    "InputFilesFailed",
    "NotAnIndexDirectory",
    "build",
    "index_lock",
]
