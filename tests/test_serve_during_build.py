"""A real ``pubmed-search serve`` keeps answering while a new version is built beside it.

The server serves version 1 (synthetic articles, tiny model). A client thread loops over
searches in every mode, article and similar requests and health checks while
the product's ``build()`` (in the test process; small ingest batches and encode chunks so it
commits many times) writes version 2 into the SAME index directory: 100 new articles, a revised
article and a deletion. Every response during the build must be a 200 with the documented
shape and consistent with ONE version: results only from that version's articles, the
revised article's title matching the version, the version never going back. Afterwards,
without a restart, the server answers from version 2 (the reload interval, or SIGHUP when
the interval is 0).
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bench._load import Client, Request, start_server, stop_server
from tests.fixtures.indexes import synthetic_articles, write_jsonl

pytestmark = pytest.mark.slow

BASE = synthetic_articles(80, seed=21, first_pmid=3000)
DELETED = BASE[5]["pmid"]
REVISED = BASE[0]["pmid"]
REVISED_TITLE = "Revised marsupial stent thrombosis report"
NEW = synthetic_articles(100, seed=22, first_pmid=8000)
NEW[0]["title"] = "Zebrafish xylophone quokka study"
V1 = {r["pmid"] for r in BASE}
V2 = (V1 - {DELETED}) | {r["pmid"] for r in NEW}
STABLE = sorted(V1 - {DELETED, REVISED})
SEARCH_KEYS = {"ok", "query", "mode", "page", "k", "total", "has_next", "took_ms", "model"}
SEARCH_KEYS |= {"version", "filters", "results"}
HIT_KEYS = {"rank", "pmid", "score", "title", "journal", "year", "authors", "doi", "mesh"}
HIT_KEYS |= {"snippet", "highlights", "url"}
ARTICLE_KEYS = {"ok", "pmid", "version", "title", "sections", "abstract", "journal", "year"}
HEALTH_KEYS = {"ok", "documents", "vectors", "model", "index_version"}


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    d = tmp_path_factory.mktemp("serve_during_build")
    settings = BuildSettings(model=str(tiny_model_dir), max_length=128, show_progress=False)
    build(d / "index", [write_jsonl(d / "base.jsonl", BASE)], settings)
    return d / "index"


@pytest.fixture(scope="module")
def update_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    revised = dict(BASE[0], version=2, title=REVISED_TITLE)
    rows = [*NEW[:50], revised, {"delete": DELETED}, *NEW[50:]]
    return write_jsonl(tmp_path_factory.mktemp("update") / "update.jsonl", rows)


class Checker:
    """Loops over requests in a thread; records every inconsistency it sees."""

    def __init__(self, address: str) -> None:
        self.client = Client(address, timeout=30)
        self.problems: list[str] = []
        self.count = 0
        self.seen_version = 1
        self.deleted_gone = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def problem(self, req: Request, what: str) -> None:
        self.problems.append(f"{req.path}: {what}")

    def get(self, path: str) -> tuple[Request, int, dict]:
        req = Request("check", "GET", path)
        resp = self.client.send(req)
        self.count += 1
        try:
            body = json.loads(resp.body)
        except ValueError:
            body = {}
            self.problem(req, f"not JSON: {resp.body[:200]!r}")
        return req, resp.status, body

    def version_seen(self, req: Request, version: int) -> None:
        if version not in (1, 2):
            self.problem(req, f"version {version}")
        if version < self.seen_version:
            self.problem(req, f"version went back from {self.seen_version} to {version}")
        self.seen_version = max(self.seen_version, version)

    def check_page(self, req: Request, status: int, body: dict, keys: set[str]) -> None:
        if status != 200 or not keys <= set(body):
            self.problem(req, f"{status} {sorted(body)}")
            return
        self.version_seen(req, body["version"])
        visible = V1 if body["version"] == 1 else V2
        for hit in body["results"]:
            if not set(hit) >= HIT_KEYS:
                self.problem(req, f"hit keys {sorted(hit)}")
            if hit["pmid"] not in visible:
                self.problem(req, f"pmid {hit['pmid']} not in version {body['version']}")
            if hit["pmid"] == REVISED and (hit["title"] == REVISED_TITLE) != (body["version"] == 2):
                self.problem(req, f"title {hit['title']!r} at version {body['version']}")

    def one_round(self, i: int) -> None:
        for mode in ("hybrid", "dense", "lexical"):
            q = ("asthma budesonide", "stent thrombosis marsupial", "quokka insulin")[i % 3]
            req, status, body = self.get("/api/search?" + urlencode({"q": q, "mode": mode}))
            self.check_page(req, status, body, SEARCH_KEYS)
        pmid = STABLE[i % len(STABLE)]
        req, status, body = self.get(f"/api/articles/{pmid}/similar?k=20")
        self.check_page(req, status, body, SEARCH_KEYS | {"pmid"})
        if status == 200 and pmid in {h["pmid"] for h in body["results"]}:
            self.problem(req, "an article is similar to itself")
        req, status, body = self.get(f"/api/articles/{pmid}")
        if status != 200 or not set(body) >= ARTICLE_KEYS or body["pmid"] != pmid:
            self.problem(req, f"{status} {body}")
        req, status, body = self.get(f"/api/articles/{REVISED}")
        if status != 200 or body.get("title") not in (BASE[0]["title"], REVISED_TITLE):
            self.problem(req, f"{status} {body.get('title')!r}")
        req, status, body = self.get(f"/api/articles/{DELETED}")
        # 200 (with its content) until the new version is served, then 404 for good
        if status == 404 and body.get("ok") is False:
            self.deleted_gone = True
        elif status != 200 or body.get("title") != BASE[5]["title"] or self.deleted_gone:
            self.problem(req, f"{status} {body.get('title')!r} (gone before: {self.deleted_gone})")
        req, status, body = self.get("/api/health")
        if status != 200 or not set(body) >= HEALTH_KEYS:
            self.problem(req, f"{status} {body}")
        else:
            self.version_seen(req, body["index_version"])

    def loop(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                self.one_round(i)
            except Exception as e:  # a failed request is a problem, never a crash
                self.problems.append(f"request failed: {e!r}")
            i += 1

    def __enter__(self) -> Checker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.client.close()


def run_build(index_dir: Path, model: Path, update: Path) -> None:
    """The product's build() in this process (small batches: many commits while serving)."""
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    settings = BuildSettings(
        model=str(model), max_length=128, show_progress=False, ingest_batch=10, chunk_size=16
    )
    summary = build(index_dir, [update], settings)
    assert summary.published and summary.version == 2, summary.line()
    assert summary.applied["added"] == len(NEW) and summary.applied["deleted"] == 1


def fetch(client: Client, path: str) -> tuple[int, dict]:
    resp = client.send(Request("final", "GET", path))
    return resp.status, json.loads(resp.body)


@pytest.mark.parametrize("trigger", ["interval", "sighup"])
def test_server_answers_during_a_build_then_serves_the_new_version(
    tmp_path: Path, base_index: Path, update_file: Path, tiny_model_dir: Path, trigger: str
):
    index_dir = tmp_path / "index"
    shutil.copytree(base_index, index_dir)
    interval = "0.5" if trigger == "interval" else "0"
    proc, address = start_server(index_dir, threads=4, extra=["--reload-interval", interval])
    client = Client(address)
    try:
        with Checker(address) as checker:
            while checker.count < 20 and not checker.problems:  # the loop is running
                time.sleep(0.05)
            before = checker.count
            started = time.monotonic()
            run_build(index_dir, tiny_model_dir, update_file)
            build_seconds = time.monotonic() - started
            during = checker.count - before
            if trigger == "sighup":
                time.sleep(1.0)  # nothing reloads by itself
                assert fetch(client, "/api/health")[1]["index_version"] == 1
                proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while fetch(client, "/api/health")[1]["index_version"] != 2:
                assert time.monotonic() < deadline, "the new version was not served in 10 s"
                time.sleep(0.1)
            after = checker.count
            while checker.count < after + 16 and not checker.problems:  # a few rounds on v2
                time.sleep(0.05)
        assert checker.problems == [], checker.problems[:10]
        assert during >= 8, f"only {during} requests overlapped the {build_seconds:.1f}s build"
        assert checker.seen_version == 2 and checker.deleted_gone

        status, body = fetch(client, "/api/search?q=xylophone+quokka&mode=lexical")
        assert status == 200 and [h["pmid"] for h in body["results"]] == [NEW[0]["pmid"]]
        status, body = fetch(client, "/api/search?q=marsupial&mode=lexical")
        assert [(h["pmid"], h["title"]) for h in body["results"]] == [(REVISED, REVISED_TITLE)]
        assert fetch(client, f"/api/articles/{NEW[-1]['pmid']}")[0] == 200
        status, body = fetch(client, f"/api/articles/{DELETED}")
        assert status == 404 and body["ok"] is False
        health = fetch(client, "/api/health")[1]
        assert health["index_version"] == 2 and health["documents"] == len(V2)
        assert proc.poll() is None  # the same process all along
    finally:
        client.close()
        assert stop_server(proc) == 0
