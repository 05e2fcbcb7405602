"""Fusion calibration at build time: what is recorded, when, and that it is honest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.build import build
from indexer.build.calibrate import (
    DENSE_WEIGHTS,
    MIN_PAIRS,
    MIN_TITLE_WORDS,
    SIDE_NAME,
    choose,
    needs_calibration,
)
from indexer.build.settings import BuildSettings
from indexer.fusion import METHODS, Fusion
from indexer.manifest import MANIFEST_NAME, IndexDir
from search import SearchEngine
from search.dense import selected_top
from tests.fixtures.indexes import synthetic_articles, write_jsonl


def _settings(model: Path, **kw) -> BuildSettings:
    return BuildSettings(model=str(model), max_length=128, show_progress=False, **kw)


def test_choose_takes_the_best_then_the_even_split_then_rrf() -> None:
    figures = {
        "rrf": [[0.0, 0.5], [0.3, 0.7], [0.5, 0.6], [1.0, 0.2]],
        "convex": [[0.0, 0.5], [0.4, 0.7], [1.0, 0.2]],
    }
    assert choose(figures) == ("convex", 0.4, 0.7)  # tie at 0.7: 0.4 is nearer 0.5
    figures["rrf"][1] = [0.4, 0.7]
    assert choose(figures) == ("rrf", 0.4, 0.7)  # same weight: RRF first
    figures["convex"][0] = [0.0, 0.71]
    assert choose(figures) == ("convex", 0.0, 0.71)  # lexical alone when it is best


def test_needs_calibration() -> None:
    calibrated = Fusion("convex", 0.2, 0.8, chosen_by="calibration", calibration={"documents": 100})
    assert needs_calibration(None, 10)
    assert needs_calibration(Fusion(), 10)  # the default, not measured
    assert not needs_calibration(calibrated, 150)
    assert needs_calibration(calibrated, 200)


def test_tiny_index_records_its_calibration(tiny_index: Path) -> None:
    manifest = IndexDir(tiny_index).read_manifest()
    fusion = manifest.fusion
    assert fusion is not None and fusion.chosen_by == "calibration"
    cal = fusion.calibration
    assert cal["pairs"] >= MIN_PAIRS and cal["documents"] == manifest.counts["vectors"]
    assert set(cal["grid"]) == set(METHODS)
    for rows in cal["grid"].values():
        assert [w for w, _ in rows] == list(DENSE_WEIGHTS)
    best = max(mrr for rows in cal["grid"].values() for _, mrr in rows)
    assert cal["mrr10"] == best == max(m for _, m in cal["grid"][fusion.method])
    assert [fusion.dense_weight, best] in cal["grid"][fusion.method]
    assert fusion.dense_weight + fusion.lexical_weight == pytest.approx(1.0)
    assert fusion.min_words == MIN_TITLE_WORDS  # what the pairs measured
    # Titles are left out of the documents: a title searched against its own titled
    # article would score MRR@10 ~1 on these synthetic topics; without it, far less.
    assert cal["lexical_mrr10"] < 0.9
    assert not (tiny_index / ".build" / SIDE_NAME).exists()


def test_calibration_leaves_the_published_lexical_index_untouched(
    tmp_path: Path, tiny_model_dir: Path, tiny_corpus
) -> None:
    path, _rows = tiny_corpus
    index_dir = tmp_path / "index"
    build(index_dir, [path], _settings(tiny_model_dir, calibrate=False))
    idx = IndexDir(index_dir)
    lexical = idx.lexical_path(1)
    before = {p.name: p.stat().st_ino for p in lexical.iterdir()}
    with SearchEngine.open(index_dir) as engine:
        hits = [(h.doc_id, h.score) for h in engine.search("insulin", k=20, mode="lexical").hits]
    # A second build calibrates (the first recorded none) while v1's files stay as they were.
    more = write_jsonl(tmp_path / "more.jsonl", synthetic_articles(5, seed=9, first_pmid=90000))
    build(index_dir, [more], _settings(tiny_model_dir))
    assert {p.name: p.stat().st_ino for p in lexical.iterdir()} == before
    assert idx.read_manifest(2).hybrid_fusion.chosen_by == "calibration"
    with SearchEngine.open(index_dir) as engine:
        state = engine._open_state(1)
        again, _ = state.lexical.search("insulin", limit=20)
        state.close()
    assert [(d, s) for d, s in again] == hits


def test_small_disabled_kept_and_regrown(tmp_path: Path, tiny_model_dir: Path) -> None:
    few = write_jsonl(tmp_path / "few.jsonl", synthetic_articles(30, seed=2))
    small = tmp_path / "small"
    build(small, [few], _settings(tiny_model_dir))
    fusion = IndexDir(small).read_manifest().hybrid_fusion
    assert fusion == Fusion() and "not calibrated" in fusion.calibration["skipped"]

    off = tmp_path / "off"
    path = write_jsonl(tmp_path / "a.jsonl", synthetic_articles(120, seed=3))
    build(off, [path], _settings(tiny_model_dir, calibrate=False))
    fusion = IndexDir(off).read_manifest().hybrid_fusion
    assert fusion == Fusion() and "disabled" in fusion.calibration["skipped"]

    on = tmp_path / "on"
    build(on, [path], _settings(tiny_model_dir))
    first = IndexDir(on).read_manifest().hybrid_fusion
    assert first.chosen_by == "calibration" and first.calibration["documents"] == 120
    grow = write_jsonl(tmp_path / "b.jsonl", synthetic_articles(20, seed=4, first_pmid=50000))
    build(on, [grow], _settings(tiny_model_dir))  # 140 < 2 x 120: kept as it was
    kept = IndexDir(on).read_manifest().hybrid_fusion
    assert kept == first and kept.calibration == first.calibration
    double = write_jsonl(tmp_path / "c.jsonl", synthetic_articles(120, seed=5, first_pmid=60000))
    build(on, [double], _settings(tiny_model_dir))  # 260 >= 2 x 120: measured again
    again = IndexDir(on).read_manifest().hybrid_fusion
    assert again.chosen_by == "calibration" and again.calibration["documents"] == 260


def test_an_index_without_recorded_fusion_fuses_as_before(tmp_path: Path, tiny_index: Path):
    """A manifest written before fusion was recorded: equal-weight RRF, k = 60, depth 100."""
    from indexer.fusion import reciprocal_rank_fusion

    copy = tmp_path / "old"
    shutil.copytree(tiny_index, copy)
    idx = IndexDir(copy)
    path = idx.version_dir(idx.current_version()) / MANIFEST_NAME
    data = json.loads(path.read_text())
    del data["fusion"]
    path.write_text(json.dumps(data))
    with SearchEngine.open(copy) as engine:
        assert engine.state.manifest.fusion is None
        query = "cisplatin chemotherapy metastasis"
        r = engine.search(query, k=10, mode="hybrid")
        dense, _ = selected_top(engine.state, engine.embed_query(query), 100, None)
        lexical, _ = engine.state.lexical.search(query, limit=100)
        fused = reciprocal_rank_fusion([dense, lexical], [1.0, 1.0], 60)[:10]
        assert [(h.doc_id, h.score) for h in r.hits] == [(d, pytest.approx(s)) for d, s in fused]
