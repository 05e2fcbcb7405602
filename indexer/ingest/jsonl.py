"""JSONL reader: one article (or deletion) per line, plain or gzipped.

See :mod:`indexer.ingest.sources` for the accepted fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from indexer.ingest.base import READ_ERRORS, SourceStats, io_error
from indexer.ingest.controls import clean_article
from indexer.ingest.jsonl_values import BadLine, json_id
from indexer.ingest.jsonl_values import fields as json_fields
from indexer.records import Article, Deletion, Record

MAX_JSONL_LINE = 64 * 1024 * 1024


def iter_jsonl(path: Path, opener: Callable[[], IO[bytes]], stats: SourceStats) -> Iterator[Record]:
    name = str(path)
    try:
        with opener() as fh:
            lineno = 0
            while True:
                raw = fh.readline(MAX_JSONL_LINE + 1)
                if not raw:
                    break
                lineno += 1
                where = f"line {lineno}"
                if len(raw) > MAX_JSONL_LINE and not raw.endswith(b"\n"):
                    while (more := fh.readline(MAX_JSONL_LINE)) and not more.endswith(b"\n"):
                        pass
                    stats.skip(name, None, f"{where}: longer than {MAX_JSONL_LINE} bytes")
                    continue
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                    raw = raw[3:]
                if not raw.strip():
                    continue
                pmid = None
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise BadLine(f"not a JSON object ({type(obj).__name__})")
                    pmid = obj.get("pmid")
                    rec = _json_record(obj)
                except (ValueError, TypeError, RecursionError) as e:
                    pid = pmid if isinstance(pmid, int) else None
                    stats.skip(name, pid, f"{where}: {e}")
                    continue
                if isinstance(rec, Deletion):
                    stats.deletions += 1
                else:
                    rec, dropped = clean_article(rec)
                    stats.controls_dropped += dropped
                    stats.articles += 1
                yield rec
    except READ_ERRORS as e:
        raise io_error(path, e) from e


def _json_record(obj: dict) -> Record:
    if "delete" in obj:
        return Deletion(json_id(obj["delete"], "delete"))
    if "pmid" not in obj:
        raise BadLine("no pmid")
    pmid = json_id(obj["pmid"], "pmid")
    deleted = obj.get("deleted", False)
    if deleted is True:
        return Deletion(pmid)
    if deleted is not False:
        raise BadLine("deleted must be true or false")
    version = obj.get("version")
    return Article(
        pmid=pmid,
        version=1 if version is None else json_id(version, "version"),
        **json_fields(obj),
    )
