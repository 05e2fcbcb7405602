"""Keeping an index current from NLM's bulk files: ``pubmed-search sync``.

Public names: :func:`sync`, :class:`SyncSettings`, :class:`SyncReport`, :class:`SyncError`,
:class:`SyncIncomplete` (exit 5).
Modules: ``listing`` (index pages, ``.md5`` files, the base URL), ``http`` (GET with
retries), ``download`` (resumable, verified downloads into the mirror), ``run`` (the sync:
download, then apply in NLM's order through the build and its ledger).
"""

from indexer.sync.http import SyncError, SyncIncomplete
from indexer.sync.run import SyncReport, SyncSettings, sync

__all__ = ["SyncError", "SyncIncomplete", "SyncReport", "SyncSettings", "sync"]
