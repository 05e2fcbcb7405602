"""Download PubMed records with E-utilities into one PubMed XML file, resumably.

1. The PMID list is fixed first: esearch (JSON, up to 9,999 ids per request; a search with
   more matches is split into date ranges, newest first, as PubMed's esearch returns only the
   first 9,999 ids of a search) or a file of PMIDs. It is saved beside the output, so a
   resumed download neither depends on an expired WebEnv nor on a result set that has grown.
2. efetch (POST, ``retmode=xml``) fetches the records in id batches; each finished batch is
   one part file ``OUT.parts/batch-NNNNNN.xml`` (written atomically) recorded in
   ``OUT.parts/state.json``.
3. When every batch is done the parts are joined into ``OUT`` (``<?xml?>``, the DOCTYPE
   efetch sent, ``<PubmedArticleSet>`` ... ``</PubmedArticleSet>``; gzip'd when OUT ends in
   ``.gz``), written to a temporary file and renamed, and ``OUT.parts`` is removed.

Re-running the same command after an interruption (Ctrl-C, a crash, NCBI failing for good)
continues with the batches not yet done. A different request with the same OUT is refused
unless ``restart=True``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from indexer import durable
from indexer.errors import PubmedSearchError
from indexer.ingest.eutils import DEFAULT_DOCTYPE, ESEARCH_MAX_IDS, EutilsClient, EutilsError

log = logging.getLogger(__name__)

STATE_VERSION = 1
DEFAULT_BATCH = 200
MAX_BATCH = 1000
MIN_DATE = date(1700, 1, 1)
_DATE = re.compile(r"(\d{4})(?:[/.-](\d{1,2})(?:[/.-](\d{1,2}))?)?")


class FetchError(PubmedSearchError, RuntimeError):
    """A download that cannot start or go on; the message says what to do."""


def parse_date(text: str, end: bool = False) -> date:
    """``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD`` (``-`` or ``.`` also separate); a partial date
    means its first day, or its last when ``end``."""
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a date (YYYY/MM/DD, YYYY/MM or YYYY): {text!r}")
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else (12 if end else 1)
    if m.group(3):
        return date(year, month, int(m.group(3)))
    if end:
        first_next = date(year + (month == 12), month % 12 + 1, 1)
        return first_next - timedelta(days=1)
    return date(year, month, 1)


def ncbi_date(d: date) -> str:
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


def read_pmid_file(path: str | Path) -> list[str]:
    """PMIDs, one per line (blank lines and ``#`` comments ignored), duplicates dropped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FetchError(f"{path}: cannot read the PMID file: {e}") from e
    pmids: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not text.isdigit() or int(text) == 0 or len(text) > 18:
            raise FetchError(f"{path}:{lineno}: not a PMID: {line.strip()!r}")
        pmid = str(int(text))
        if pmid not in seen:
            seen.add(pmid)
            pmids.append(pmid)
    if not pmids:
        raise FetchError(f"{path}: no PMIDs in the file")
    return pmids


def collect_pmids(
    client: EutilsClient,
    term: str,
    max_records: int | None = None,
    mindate: str | None = None,
    maxdate: str | None = None,
    datetype: str = "pdat",
    limit: int = ESEARCH_MAX_IDS,
) -> list[str]:
    """PMIDs matching ``term`` (at most ``max_records``), in esearch order."""
    lo = parse_date(mindate) if mindate else None
    hi = parse_date(maxdate, end=True) if maxdate else None
    if lo or hi:  # NCBI needs both ends of a date range
        lo = lo or MIN_DATE
        hi = hi or date(date.today().year + 5, 12, 31)
    retmax = min(limit, max_records) if max_records is not None else limit

    def search(a: date | None, b: date | None, n: int = retmax):
        r = client.esearch(
            term,
            retmax=n,
            mindate=ncbi_date(a) if a else None,
            maxdate=ncbi_date(b) if b else None,
            datetype=datetype,
        )
        for w in r.warnings:
            log.warning("esearch %r: %s", term, w)
        return r

    first = search(lo, hi)
    want = first.count if max_records is None else min(first.count, max_records)
    if len(first.ids) >= want or first.count <= limit:
        return first.ids[:want]
    # More than one esearch can return: split the date range, newest half first.
    log.info("%d records match %r: splitting the search by %s ranges", first.count, term, datetype)
    ids: list[str] = []
    seen: set[str] = set()
    stack = [(lo or MIN_DATE, hi or date(date.today().year + 5, 12, 31))]
    while stack and len(ids) < want:
        a, b = stack.pop()
        r = search(a, b, limit)
        if r.count > limit and a < b:
            mid = a + (b - a) // 2
            stack += [(a, mid), (mid + timedelta(days=1), b)]
            continue
        if r.count > limit:
            log.warning(
                "%d records of %r on %s: only the first %d are fetched",
                r.count, term, ncbi_date(a), len(r.ids),
            )  # fmt: skip
        for i in r.ids:
            if i not in seen:
                seen.add(i)
                ids.append(i)
    if len(ids) < want:
        log.warning("collected %d of the %d PMIDs esearch counted for %r", len(ids), want, term)
    return ids[:want]


@dataclass
class FetchSummary:
    out: Path
    requested: int
    written: int
    missing: list[str]
    batches: int
    resumed_batches: int
    seconds: float

    def line(self) -> str:
        parts = [f"{self.written} of {self.requested} records written to {self.out}"]
        if self.missing:
            shown = ", ".join(self.missing[:10]) + (" ..." if len(self.missing) > 10 else "")
            parts.append(f"{len(self.missing)} PMIDs not returned by efetch: {shown}")
        if self.resumed_batches:
            parts.append(f"{self.resumed_batches} of {self.batches} batches reused from before")
        return "; ".join(parts) + f" ({self.seconds:.1f}s)"


@dataclass
class _State:
    path: Path
    request: dict[str, Any]
    batch_size: int
    n_pmids: int
    doctype: str | None = None
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "request": self.request,
            "batch_size": self.batch_size,
            "n_pmids": self.n_pmids,
            "doctype": self.doctype,
            "done": self.done,
        }
        durable.write_text(self.path, json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> _State:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("version") != STATE_VERSION:
                raise ValueError(f"state version {d.get('version')}")
            return cls(path, d["request"], int(d["batch_size"]), int(d["n_pmids"]),
                       d.get("doctype"), dict(d.get("done") or {}))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise FetchError(
                f"{path}: unreadable download state ({e}); run again with --restart"
            ) from e


def _request_key(
    query: str | None,
    pmids: Sequence[str] | None,
    max_records: int | None,
    mindate: str | None,
    maxdate: str | None,
    datetype: str,
) -> dict[str, Any]:
    if pmids is not None:
        digest = hashlib.sha256("\n".join(pmids).encode()).hexdigest()
        return {"pmids_sha256": digest, "n": len(pmids), "max": max_records}
    return {"query": query, "max": max_records, "mindate": mindate, "maxdate": maxdate,
            "datetype": datetype}  # fmt: skip


def _check_out(out: Path) -> Path:
    if out.is_dir():
        raise FetchError(f"cannot write {out}: it is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FetchError(f"cannot write {out}: directory {parent} does not exist")
    parts = out.with_name(out.name + ".parts")
    try:
        parts.mkdir(exist_ok=True)
        probe = parts / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise FetchError(f"cannot write beside {out}: {e.strerror or e}") from e
    return parts


def fetch(
    client: EutilsClient,
    out: str | Path,
    *,
    query: str | None = None,
    pmids: Sequence[str] | None = None,
    max_records: int | None = None,
    mindate: str | None = None,
    maxdate: str | None = None,
    datetype: str = "pdat",
    batch_size: int = DEFAULT_BATCH,
    restart: bool = False,
    esearch_limit: int = ESEARCH_MAX_IDS,
    progress: Callable[[int, int], None] | None = None,
) -> FetchSummary:
    """Download the records of ``query`` (esearch) or of ``pmids`` into ``out``.

    ``progress(done_batches, total_batches)`` is called after each batch.
    """
    if (query is None) == (pmids is None):
        raise ValueError("give exactly one of query or pmids")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be in 1..{MAX_BATCH}, got {batch_size}")
    started = time.perf_counter()
    out = Path(out)
    parts = _check_out(out)
    key = _request_key(query, pmids, max_records, mindate, maxdate, datetype)
    state_path, pmid_path = parts / "state.json", parts / "pmids.txt"
    state: _State | None = None
    if state_path.exists() and not restart:
        state = _State.load(state_path)
        if state.request != key:
            raise FetchError(
                f"{parts} holds an unfinished download of another request "
                f"({state.request}); run that command again to finish it, or add "
                "--restart to discard it"
            )
    if state is None:  # a fresh start: nothing in parts/ is trusted
        for stale in parts.iterdir():
            if stale.is_file():
                stale.unlink()
        if pmids is not None:
            ids = list(pmids)[:max_records] if max_records is not None else list(pmids)
        else:
            assert query is not None
            ids = collect_pmids(
                client, query, max_records, mindate, maxdate, datetype, esearch_limit
            )
        durable.write_text(pmid_path, "".join(f"{i}\n" for i in ids))
        state = _State(state_path, key, batch_size, len(ids))
        state.save()
    else:
        try:
            ids = pmid_path.read_text(encoding="utf-8").split()
        except OSError:
            ids = []
        if len(ids) != state.n_pmids:
            raise FetchError(f"{pmid_path}: damaged (run again with --restart)")
        if batch_size != state.batch_size:
            log.warning("resuming with the batch size of the first run (%d)", state.batch_size)
        log.info("resuming: %d batches already done", len(state.done))
    size = state.batch_size
    n_batches = (len(ids) + size - 1) // size
    reused = 0
    for b in range(n_batches):
        part = parts / f"batch-{b:06d}.xml"
        if str(b) in state.done and part.exists():
            reused += 1
            continue
        batch = ids[b * size : (b + 1) * size]
        try:
            result = client.efetch_pubmed(batch)
        except EutilsError as e:
            saved = sum(1 for i in range(n_batches) if str(i) in state.done)
            raise FetchError(
                f"{e}; {saved} of {n_batches} batches are saved in {parts}: "
                "run the same command again to resume"
            ) from e
        got = {pmid for pmid, _ in result.articles}
        extra = got - set(batch)
        if extra:
            log.warning("efetch returned PMIDs not asked for: %s", ", ".join(sorted(extra)))
        durable.write_bytes(part, b"".join(xml + b"\n" for _, xml in result.articles))
        state.doctype = state.doctype or result.doctype
        state.done[str(b)] = {
            "articles": len(result.articles),
            "missing": [p for p in batch if p not in got],
        }
        state.save()
        if progress:
            progress(b + 1, n_batches)
    _assemble(out, parts, n_batches, state.doctype)
    written = sum(state.done[str(b)]["articles"] for b in range(n_batches))
    missing = [p for b in range(n_batches) for p in state.done[str(b)]["missing"]]
    shutil.rmtree(parts, ignore_errors=True)
    return FetchSummary(
        out, len(ids), written, missing, n_batches, reused, time.perf_counter() - started
    )


def _assemble(out: Path, parts: Path, n_batches: int, doctype: str | None) -> None:
    """Join the part files into ``out`` (atomically and durably: ``indexer.durable``)."""
    try:
        with durable.replacing(out) as tmp, open(tmp, "wb") as raw:
            gz = (
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if out.name.endswith(".gz") else None
            )
            f: IO[bytes] = gz if gz is not None else raw
            f.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
            f.write((doctype or DEFAULT_DOCTYPE).encode() + b"\n<PubmedArticleSet>\n")
            for b in range(n_batches):
                with open(parts / f"batch-{b:06d}.xml", "rb") as p:
                    shutil.copyfileobj(p, f)
            f.write(b"</PubmedArticleSet>\n")
            if gz is not None:
                gz.close()
    except OSError as e:
        raise FetchError(f"cannot write {out}: {e.strerror or e}") from e
