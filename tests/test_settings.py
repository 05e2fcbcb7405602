"""indexer.build.settings: where each unset build option comes from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.build.settings import BuildSettings
from indexer.manifest import EncoderInfo
from indexer.models.encoder import DEFAULT_MODEL
from indexer.tune.settings import TUNING_FILE


def tuned_dir(tmp_path: Path, pooling: str) -> Path:
    d = tmp_path / "tuned"
    d.mkdir()
    (d / TUNING_FILE).write_text(json.dumps({"settings": {"pooling": pooling}}))
    return d


def test_defaults_for_a_new_index() -> None:
    s = BuildSettings().resolved(None)
    assert (s.model, s.pooling, s.max_length, s.quantize) == (DEFAULT_MODEL, "mean", 512, "none")


def test_a_tuned_model_brings_the_pooling_it_was_tuned_with(tmp_path: Path) -> None:
    d = tuned_dir(tmp_path, "cls")
    assert BuildSettings(model=str(d)).resolved(None).pooling == "cls"
    # an explicit choice wins; an existing index's manifest wins too
    assert BuildSettings(model=str(d), pooling="mean").resolved(None).pooling == "mean"
    existing = EncoderInfo(model=str(d), fingerprint="x", pooling="mean")
    assert BuildSettings(model=str(d)).resolved(existing).pooling == "mean"


@pytest.mark.parametrize("content", ["not json", "{}", '{"settings": {"pooling": "max"}}', "[]"])
def test_an_unreadable_tuning_report_falls_back_to_mean(tmp_path: Path, content: str) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / TUNING_FILE).write_text(content)
    assert BuildSettings(model=str(d)).resolved(None).pooling == "mean"


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBMED_SEARCH_BATCH_SIZE", "7")
    monkeypatch.setenv("PUBMED_SEARCH_SHOW_PROGRESS", "no")
    monkeypatch.setenv("PUBMED_SEARCH_POOLING", "cls")
    s = BuildSettings.from_env({"pooling": "mean", "model": None})
    assert (s.batch_size, s.show_progress, s.pooling, s.model) == (7, False, "mean", None)
