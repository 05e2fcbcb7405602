"""Writing the lexical index of a new version beside the published one.

A build at staging version S works in a directory of its own (the build's checkpoint area):

1. *Stage*: the published version's Tantivy files are hard-linked into it (segment files are
   immutable and Tantivy replaces ``meta.json`` by rename, so the published directory is
   never changed through a link); a first build starts an empty index.
2. *Delete*: every revision removed at S (replaced or deleted) is deleted by its doc id term;
   re-deleting is harmless, so this step simply runs again after a kill.
3. *Add*: the revisions added at S are added in doc-id order, committed every ``chunk``
   documents. After a kill the step resumes after the largest doc id already committed (a
   commit is atomic, so the index holds a prefix of the additions; anything above that id
   is deleted first, so nothing is ever added twice).
4. The directory is then moved into the version directory and published with it.

Collection statistics (document frequencies, average lengths) are Tantivy's: a deleted
revision keeps counting until its segment is merged, as in Lucene. Staged documents are
never visible to the published version, whose files are untouched: its scores stay
bit-identical whatever happens to a build.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import tantivy

from indexer import durable
from indexer.lexical.analysis import TOKENIZER_NAME, Analysis, analyzer
from indexer.lexical.reader import open_index
from indexer.lexical.schema import build_schema, document
from indexer.records import Article

log = logging.getLogger(__name__)

CHUNK = 100_000
"""Documents per commit of a build's additions (a resumed build restarts after the last)."""
HEAP_BYTES = 256_000_000
DELETE_BATCH = 10_000
_LOCKS = (".tantivy-writer.lock", ".tantivy-meta.lock")


def stage(published: Path | None, work: Path, analysis: Analysis) -> None:
    """Make ``work`` the index to write: links of ``published``'s files, or a new index."""
    if (work / "meta.json").is_file():
        return  # staged by an earlier attempt of this build
    if work.exists():
        shutil.rmtree(work)
    tmp = work.with_name(work.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if published is not None:
        for p in published.iterdir():
            if p.is_file() and p.name not in _LOCKS:
                os.link(p, tmp / p.name)
    else:
        index = tantivy.Index(build_schema(), path=str(tmp))
        index.register_tokenizer(TOKENIZER_NAME, analyzer(analysis))
        del index
    durable.fsync_dir(tmp)
    os.replace(tmp, work)


def _writer(index: tantivy.Index, threads: int) -> tantivy.IndexWriter:
    return index.writer(heap_size=HEAP_BYTES, num_threads=max(0, threads))


def _max_doc_id(index: tantivy.Index, at_least: int) -> int | None:
    index.reload()
    searcher = index.searcher()
    q = tantivy.Query.range_query(
        index.schema, "doc_id", tantivy.FieldType.Unsigned, at_least, None
    )
    hits = searcher.search(q, limit=1, order_by_field="doc_id").hits
    return int(hits[0][0]) if hits else None


def write(
    work: Path,
    analysis: Analysis,
    removed: Iterable[int],
    first_new: int,
    rows: Callable[[int, int], list[tuple[int, Article]]],
    chunk: int = CHUNK,
    threads: int = 0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Steps 2 and 3 on the staged index ``work``; returns the documents added by this call.

    ``removed``: doc ids to delete; ``first_new``: the smallest doc id this build may add;
    ``rows(after, limit)``: the next revisions to add, by doc id (the store's ``to_index``).
    """
    index = open_index(work, analysis)
    schema = index.schema
    done = _max_doc_id(index, first_new)
    after = first_new - 1 if done is None else done
    w = _writer(index, threads)
    gone = sorted({int(d) for d in removed})
    for i in range(0, len(gone), DELETE_BATCH):
        ids = gone[i : i + DELETE_BATCH]
        w.delete_documents_by_query(tantivy.Query.term_set_query(schema, "doc_id", ids))
    w.delete_documents_by_query(
        tantivy.Query.range_query(schema, "doc_id", tantivy.FieldType.Unsigned, after + 1, None)
    )
    w.commit()
    added = 0
    while True:
        batch = rows(after, chunk)
        if not batch:
            break
        for doc_id, article in batch:
            w.add_document(document(doc_id, article))
        w.commit()
        after = batch[-1][0]
        added += len(batch)
        if progress is not None:
            progress(len(batch))
    w.wait_merging_threads()
    w = _writer(index, threads)
    w.garbage_collect_files()
    w.wait_merging_threads()
    return added
