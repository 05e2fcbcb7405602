"""Stopping `serve`: SIGINT or SIGTERM ends it with one line ("stopped"), exit 0, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start(index_dir: Path) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "pubmed_search.cli", "serve", "--index", str(index_dir)),
            *("--host", "127.0.0.1", "--port", "0", "--threads", "2", "--reload-interval", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    head: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        head.append(line)
        if line.startswith("Ctrl+C stops"):  # the line printed just after the address
            return proc, head
    proc.kill()
    raise AssertionError("serve did not start:\n" + "".join(head) + proc.stderr.read())


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGTERM, signal.SIGINT)],
    ids=["sigint", "sigterm", "sigint-then-more"],
)
def test_serve_stops_with_one_line(tiny_index: Path, signals: tuple[int, ...]) -> None:
    proc, head = _start(tiny_index)
    assert any("http://127.0.0.1:" in line for line in head)
    time.sleep(0.5)  # the server loop is running
    for s in signals:
        proc.send_signal(s)
        time.sleep(0.05)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert out == "stopped\n", out
    assert proc.returncode == 0, (proc.returncode, err)


def test_a_signal_during_atexit_callbacks_prints_no_traceback(tiny_index: Path) -> None:
    """The demo's "Exception ignored in atexit callback: <function dump_compile_times> ...
    SystemExit: 0": a SIGTERM that lands while atexit callbacks run (torch registers one) must
    not raise in them. A slow atexit callback stands in for torch's."""
    code = (
        "import atexit, sys, time\n"
        "atexit.register(time.sleep, 2)\n"
        "from pubmed_search.cli import cli\n"
        "sys.argv = ['pubmed-search', 'serve', '--index', sys.argv[1], '--port', '0',"
        " '--reload-interval', '0']\n"
        "cli()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tiny_index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    while (line := proc.stdout.readline()) and not line.startswith("Ctrl+C stops"):
        pass
    assert line, proc.stderr.read()
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)  # shut down; now in the atexit callback
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert out == "stopped\n"
    assert proc.returncode == 0
