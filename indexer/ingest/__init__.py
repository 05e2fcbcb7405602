"""Reading PubMed: PubMed XML and JSONL files, and E-utilities downloads.

Public names: :func:`iter_records` / :func:`iter_many` (streaming readers dispatched on the
file name), :class:`SourceStats` (what was read and skipped), :class:`SourceError` (a file
that cannot be read). The E-utilities client and ``fetch`` live in
``indexer.ingest.eutils`` and ``indexer.ingest.fetch``.
"""

from indexer.ingest.base import SourceError, SourceStats
from indexer.ingest.sources import iter_many, iter_records

__all__ = ["SourceError", "SourceStats", "iter_many", "iter_records"]
