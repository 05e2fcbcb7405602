"""JSONL reader: one article (or deletion) per line, plain or gzipped.

See :mod:`indexer.ingest.sources` for the accepted fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from indexer.ingest.base import MAX_ID, READ_ERRORS, SourceStats, io_error, parse_pmid
from indexer.ingest.controls import clean_article
from indexer.records import Article, Deletion, MeshTerm, Record, Section

MAX_JSONL_LINE = 64 * 1024 * 1024


def _norm(text: str) -> str:
    return " ".join(text.split())


class _BadLine(ValueError):
    pass


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
                        raise _BadLine(f"not a JSON object ({type(obj).__name__})")
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


def _json_id(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _BadLine(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        if 0 < value <= MAX_ID:
            return value
    elif isinstance(value, str) and (v := parse_pmid(value)) is not None:
        return v
    raise _BadLine(f"{what} must be a positive integer, got {value!r}"[:200])


def _json_str(obj: dict, key: str) -> str:
    v = obj.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _BadLine(f"{key} must be a string")
    return _norm(v)


def _json_strs(obj: dict, key: str) -> list[str]:
    v = obj.get(key)
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _BadLine(f"{key} must be a list of strings")
    return [t for t in map(_norm, v) if t]


def _json_opt(d: dict, key: str, what: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _BadLine(f"{what} must be a string")
    return _norm(v) or None


def _json_sections(obj: dict) -> list[Section]:
    secs = obj.get("sections")
    if secs:
        if not isinstance(secs, list) or not all(isinstance(s, dict) for s in secs):
            raise _BadLine("sections must be a list of {label, text} objects")
        out = []
        for s in secs:
            text = s.get("text")
            if not isinstance(text, str):
                raise _BadLine("section text must be a string")
            text = _norm(text)
            if text:
                label = _json_opt(s, "label", "section label")
                out.append(Section(text, label, _json_opt(s, "category", "section category")))
        return out
    abstract = _json_str(obj, "abstract")
    return [Section(abstract)] if abstract else []


def _json_mesh(obj: dict) -> list[MeshTerm]:
    items = obj.get("mesh")
    if items is None:
        return []
    if not isinstance(items, list):
        raise _BadLine("mesh must be a list")
    out = []
    for m in items:
        if isinstance(m, str):
            if _norm(m):
                out.append(MeshTerm(_norm(m)))
        elif isinstance(m, dict) and isinstance(m.get("name"), str):
            major = m.get("major", False)
            if not isinstance(major, bool):
                raise _BadLine("mesh major must be true or false")
            if _norm(m["name"]):
                out.append(MeshTerm(_norm(m["name"]), _json_opt(m, "ui", "mesh ui"), major))
        else:
            raise _BadLine("mesh items must be names or {name, ui, major} objects")
    return out


def _json_languages(obj: dict) -> list[str]:
    """``languages`` (a list of codes), or the older single ``language`` string (commas
    separate codes in it, as the lexical index always read it)."""
    if "languages" in obj:
        return _json_strs(obj, "languages")
    return [t for t in map(_norm, _json_str(obj, "language").split(",")) if t]


def _json_year(obj: dict) -> int | None:
    y = obj.get("year")
    if y is None or y == "":
        return None
    if isinstance(y, str) and y.strip().isascii() and y.strip().isdigit():
        y = int(y.strip())
    if isinstance(y, bool) or not isinstance(y, int) or not 0 < y < 10000:
        raise _BadLine(f"year must be an integer from 1 to 9999, got {y!r}"[:200])
    return y


def _json_record(obj: dict) -> Record:
    if "delete" in obj:
        return Deletion(_json_id(obj["delete"], "delete"))
    if "pmid" not in obj:
        raise _BadLine("no pmid")
    pmid = _json_id(obj["pmid"], "pmid")
    deleted = obj.get("deleted", False)
    if deleted is True:
        return Deletion(pmid)
    if deleted is not False:
        raise _BadLine("deleted must be true or false")
    version = obj.get("version")
    return Article(
        pmid=pmid,
        version=1 if version is None else _json_id(version, "version"),
        title=_json_str(obj, "title"),
        sections=_json_sections(obj),
        journal=_json_str(obj, "journal"),
        journal_iso=_json_str(obj, "journal_iso"),
        year=_json_year(obj),
        authors=_json_strs(obj, "authors"),
        mesh=_json_mesh(obj),
        publication_types=_json_strs(obj, "publication_types"),
        keywords=_json_strs(obj, "keywords"),
        languages=_json_languages(obj),
        doi=_json_opt(obj, "doi", "doi"),
    )
