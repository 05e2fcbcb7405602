"""A load driver for ``pubmed-search serve``, shared by bench/load.py and tests/test_load.py.

- :func:`start_server` runs the real ``serve`` command on 127.0.0.1 (free port) and returns
  the process and its address.
- :func:`make_requests` draws a seeded mix of API requests (search in every mode, filtered
  searches, POST searches, similar, article, RIS/BibTeX/CSV exports, unknown PMIDs) from a
  corpus: queries are word windows of the corpus abstracts, a few hundred distinct ones drawn
  with a skew so that some repeat (the engine's query LRU sees hits and misses).
- :func:`run_load` sends a request list from N client threads, each with its own keep-alive
  ``http.client`` connection, bounded by the list's length and a time cap.
- :func:`compare` checks each concurrent response against a serial run of the same requests
  (same status, same JSON body apart from ``took_ms``, same export bytes).
- :func:`rss_kb` reads a process's resident set size from ``/proc/PID/status``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench._stats import percentile

REPO = Path(__file__).resolve().parents[1]
MODES = ("hybrid", "dense", "lexical")
EXPORTS = ("ris", "bibtex", "csv")
MISSING_PMID = 999_999_991
# kind -> weight; "mixed" covers every endpoint, "cheap" is dominated by lexical/article.
MIXES: dict[str, dict[str, float]] = {
    "mixed": {
        "hybrid": 14,
        "dense": 12,
        "lexical": 14,
        "filtered": 14,
        "post": 5,
        "page2": 5,
        "similar": 10,
        "article": 14,
        "export": 10,
        "missing": 2,
    },
    "cheap": {"article": 65, "lexical": 30, "hybrid": 3, "dense": 2},
}
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{3,}")


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    body: bytes | None = None
    expect: int = 200


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    seconds: float


@dataclass
class LoadResult:
    responses: list[Response | None]  # None: not sent (time cap) or failed (see errors)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (request index, message)
    seconds: float = 0.0
    capped: bool = False

    @property
    def latencies(self) -> list[float]:
        return [r.seconds for r in self.responses if r is not None]

    def stats(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        done = len(lat)
        return {
            "requests": done,
            "errors": len(self.errors),
            "seconds": round(self.seconds, 3),
            "rps": round(done / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2) if lat else 0.0,
        }


# the server ------------------------------------------------------------------------------


def start_server(
    index_dir: Path, *, threads: int = 8, extra: Sequence[str] = (), timeout: float = 180
) -> tuple[subprocess.Popen, str]:
    """``pubmed-search serve --port 0`` as a real process; returns it and its address."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "pubmed_search.cli", "serve", "--index", str(index_dir)]
    cmd += ["--host", "127.0.0.1", "--port", "0", "--threads", str(threads), *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if m:
            # keep draining the output so the server never blocks on a full pipe
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    proc.wait()
    raise RuntimeError("serve did not print its address:\n" + "".join(lines))


def _drain(proc: subprocess.Popen) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


def stop_server(proc: subprocess.Popen) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# requests ----------------------------------------------------------------------------------


def corpus_queries(rows: Iterable[dict[str, Any]], n: int = 300, seed: int = 0) -> list[str]:
    """``n`` distinct queries: windows of 1-4 words of the rows' titles and abstracts."""
    rng = random.Random(seed)
    texts = []
    for row in rows:
        text = " ".join([row.get("title") or ""] + [s["text"] for s in row.get("sections", [])])
        words = _WORD.findall(text)
        if len(words) >= 4:
            texts.append(words)
    if not texts:
        raise ValueError("no row has text enough to draw queries from")
    out: dict[str, None] = {}
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        words = rng.choice(texts)
        size = rng.choice((1, 2, 2, 3, 3, 4))
        start = rng.randrange(len(words) - size + 1)
        out[" ".join(words[start : start + size]).lower()] = None
    return list(out)


def _row_filters(rows: Sequence[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A small fixed set of filter combinations drawn from the corpus's metadata."""
    years = sorted(int(r["year"]) for r in rows if r.get("year"))
    mesh: list[str] = []
    for r in rows:
        for m in r.get("mesh") or []:
            mesh.append(m if isinstance(m, str) else m.get("name", ""))
    common = [m for m in sorted(set(mesh), key=mesh.count, reverse=True)[:12] if m]
    combos: list[dict[str, Any]] = [{"has_abstract": "true"}]
    if years:
        mid = years[len(years) // 2]
        combos += [{"year_from": mid}, {"year_to": mid}, {"year_from": years[0], "year_to": mid}]
    for m in common[:8]:
        combos.append({"mesh": m})
    if years and common:
        combos.append({"mesh": common[0], "year_from": years[len(years) // 4]})
    rng.shuffle(combos)
    return combos


def make_requests(
    rows: Sequence[dict[str, Any]],
    n: int,
    *,
    mix: str = "mixed",
    seed: int = 0,
    queries: Sequence[str] | None = None,
) -> list[Request]:
    """``n`` seeded requests of the ``mix`` (see ``MIXES``) about the corpus ``rows``."""
    rng = random.Random(seed)
    queries = list(queries or corpus_queries(rows, seed=seed))
    pmids = [int(r["pmid"]) for r in rows]
    # similar needs an embedded article: one with an abstract or a title
    with_text = [int(r["pmid"]) for r in rows if r.get("sections")] or pmids
    filters = _row_filters(rows, rng)
    kinds, weights = zip(*MIXES[mix].items(), strict=True)

    def query() -> str:
        # skewed: a third of the draws come from the first 30 queries (repeats, LRU hits)
        pool = queries[:30] if rng.random() < 0.33 else queries
        return rng.choice(pool)

    def search(args: dict[str, Any]) -> str:
        return "/api/search?" + urlencode(args)

    out = []
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        k = rng.choice((5, 10, 10, 20))
        if kind in MODES:
            out.append(Request(kind, "GET", search({"q": query(), "mode": kind, "k": k})))
        elif kind == "filtered":
            args = {"q": query(), "mode": rng.choice(MODES), "k": k, **rng.choice(filters)}
            out.append(Request(kind, "GET", search(args)))
        elif kind == "page2":
            args = {"q": query(), "mode": rng.choice(MODES), "k": k, "page": 2}
            out.append(Request(kind, "GET", search(args)))
        elif kind == "post":
            body = json.dumps({"q": query(), "mode": rng.choice(MODES), "k": k}).encode()
            out.append(Request(kind, "POST", "/api/search", body))
        elif kind == "similar":
            pmid = rng.choice(with_text)
            extra = rng.choice(filters) if rng.random() < 0.3 else {}
            out.append(
                Request(
                    kind, "GET", f"/api/articles/{pmid}/similar?" + urlencode({"k": k, **extra})
                )
            )
        elif kind == "article":
            out.append(Request(kind, "GET", f"/api/articles/{rng.choice(pmids)}"))
        elif kind == "export":
            fmt = rng.choice(EXPORTS)
            if rng.random() < 0.2:
                path = f"/api/articles/{rng.choice(with_text)}/similar?format={fmt}"
            else:
                path = search({"q": query(), "mode": rng.choice(MODES), "format": fmt})
            out.append(Request(kind, "GET", path))
        elif kind == "missing":
            out.append(Request(kind, "GET", f"/api/articles/{MISSING_PMID}", expect=404))
        else:  # pragma: no cover - MIXES and this function disagree
            raise ValueError(f"unknown request kind {kind!r}")
    return out


# sending -------------------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection (reconnects after a failure)."""

    def __init__(self, address: str, timeout: float = 60) -> None:
        parts = urlsplit(address)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, req: Request) -> Response:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if req.body is not None else {}
        start = time.perf_counter()
        try:
            self.conn.request(req.method, req.path, body=req.body, headers=headers)
            resp = self.conn.getresponse()
            body = resp.read()
        except Exception:
            self.close()
            raise
        seconds = time.perf_counter() - start
        if resp.will_close:
            self.close()
        return Response(resp.status, resp.getheader("Content-Type", ""), body, seconds)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(
    address: str, requests: Sequence[Request], *, clients: int = 16, time_cap: float = 120
) -> LoadResult:
    """Send every request once from ``clients`` threads; stop early at ``time_cap`` seconds.

    A transport failure or a status other than the request's ``expect`` is an error.
    """
    result = LoadResult(responses=[None] * len(requests))
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    start = time.perf_counter()
    deadline = start + time_cap

    def worker() -> None:
        client = Client(address)
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                    if i is not None and time.perf_counter() > deadline:
                        result.capped = True
                        i = None
                if i is None:
                    return
                req = requests[i]
                try:
                    resp = client.send(req)
                except Exception as e:
                    with lock:
                        result.errors.append((i, f"{req.method} {req.path}: {e!r}"))
                    continue
                result.responses[i] = resp
                if resp.status != req.expect:
                    with lock:
                        result.errors.append((i, f"{req.method} {req.path}: {resp.status}"))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result


def normalized(resp: Response) -> tuple[int, Any]:
    """Status and body, JSON parsed with ``took_ms`` dropped (exports stay bytes)."""
    if resp.content_type.startswith("application/json"):
        body = json.loads(resp.body)
        if isinstance(body, dict):
            body.pop("took_ms", None)
        return resp.status, body
    return resp.status, resp.body


def compare(
    requests: Sequence[Request],
    got: Sequence[Response | None],
    want: Sequence[Response | None],
) -> list[str]:
    """Requests whose two responses differ (status, JSON apart from took_ms, export bytes)."""
    diffs = []
    for req, a, b in zip(requests, got, want, strict=True):
        if a is None or b is None:
            diffs.append(f"{req.method} {req.path}: missing response")
        elif normalized(a) != normalized(b):
            diffs.append(
                f"{req.method} {req.path}: {a.status} {a.body[:200]!r} != {b.body[:200]!r}"
            )
    return diffs


def distinct(requests: Sequence[Request]) -> list[Request]:
    """The requests without repeats, first occurrence order (a serial reference needs each once)."""
    return list(dict.fromkeys(requests))


def expand(
    requests: Sequence[Request], unique: Sequence[Request], responses: Sequence[Response | None]
) -> list[Response | None]:
    """Responses of ``unique`` (see :func:`distinct`) laid out along ``requests``."""
    table = dict(zip(unique, responses, strict=True))
    return [table[r] for r in requests]


def by_kind(requests: Sequence[Request]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    return dict(sorted(counts.items()))


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows
