"""The build pipeline: manifest, incremental updates, model-load failure, atomic publish."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.build import BuildError, build
from indexer.build.settings import BuildSettings
from indexer.manifest import IndexDir
from indexer.models.encoder import Encoder, EncoderConfig, ModelLoadError
from indexer.store import Store
from indexer.vectors import VectorFile, VectorIndex
from tests.fixtures.indexes import synthetic_articles, write_jsonl


def settings_for(model_dir: Path, **kw) -> BuildSettings:
    return BuildSettings(model=str(model_dir), max_length=128, show_progress=False, **kw)


def snapshot(index_dir: Path) -> dict[int, np.ndarray]:
    """PMID -> vector of everything the published version holds, checked against FAISS."""
    idx = IndexDir(index_dir)
    manifest = idx.read_manifest()
    store = Store(idx.default_store_url(), readonly=True)
    try:
        ids = store.visible_embedded_ids(manifest.version)
        docs = store.get_docs(ids.tolist())
    finally:
        store.close()
    vectors = VectorFile(idx.vectors_path, manifest.encoder.dim, readonly=True).read(ids)
    index = VectorIndex.load(idx.faiss_path(manifest.version))
    assert index.ntotal == len(ids) == manifest.counts["vectors"]
    if len(ids):
        _, found = index.search(vectors.astype(np.float32), 1)
        assert (found[:, 0] == ids).mean() > 0.95  # exact index: each vector finds itself
    return {docs[int(i)].article.pmid: v for i, v in zip(ids, vectors, strict=True)}


def test_manifest_records_how_to_query(tiny_index: Path, tiny_model_dir: Path, tiny_corpus):
    _, rows = tiny_corpus
    manifest = IndexDir(tiny_index).read_manifest()
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), max_length=128))
    assert manifest.encoder.model == str(tiny_model_dir)
    assert manifest.encoder.fingerprint == enc.fingerprint
    assert (manifest.encoder.pooling, manifest.encoder.max_length) == ("mean", 128)
    assert manifest.encoder.normalize is True
    assert manifest.encoder.dim == enc.dim
    assert "Flat" in manifest.faiss_factory
    assert manifest.metric == "inner_product"
    assert manifest.counts["articles"] == len(rows)
    assert manifest.counts["vectors"] == len(rows)  # every synthetic article has a title
    assert manifest.next_doc_id > len(rows)
    assert manifest.built_at and manifest.package_version
    assert not (tiny_index / ".build").exists()


def test_incremental_update_adds_replaces_and_deletes(tmp_path: Path, tiny_model_dir: Path):
    rows = synthetic_articles(40, seed=1)
    index_dir = tmp_path / "index"
    first = build(
        index_dir, [write_jsonl(tmp_path / "a.jsonl", rows)], settings_for(tiny_model_dir)
    )
    assert first.published and first.applied["added"] == 40
    before = snapshot(index_dir)

    revised = dict(rows[0], version=2, title="A completely revised title about sepsis")
    new = synthetic_articles(5, seed=2, first_pmid=9000)
    deletes = [{"delete": rows[1]["pmid"]}, {"delete": rows[2]["pmid"]}]
    update = write_jsonl(tmp_path / "update.jsonl", [revised, *new, *deletes])
    second = build(index_dir, [update], settings_for(tiny_model_dir))

    assert second.published and second.version == first.version + 1
    assert (second.applied["added"], second.applied["replaced"], second.applied["deleted"]) == (
        5,
        1,
        2,
    )
    after = snapshot(index_dir)
    expected = {r["pmid"] for r in rows} - {rows[1]["pmid"], rows[2]["pmid"]}
    assert set(after) == expected | {a["pmid"] for a in new}
    assert not np.allclose(after[rows[0]["pmid"]], before[rows[0]["pmid"]], atol=1e-3)
    assert np.allclose(after[rows[5]["pmid"]], before[rows[5]["pmid"]], atol=1e-3)

    # Updating without naming the model reuses the manifest's encoder settings.
    again = build(index_dir, [update], BuildSettings(show_progress=False))
    assert not again.published  # nothing changed: no new version
    assert IndexDir(index_dir).current_version() == second.version


def test_model_load_failure_fails_before_any_work(tmp_path: Path, tiny_corpus):
    path, _ = tiny_corpus
    index_dir = tmp_path / "index"
    with pytest.raises(ModelLoadError) as err:
        build(index_dir, [path], settings_for(tmp_path / "no-such-model"))
    assert "no-such-model" in str(err.value)
    assert "--model" in str(err.value)
    assert not (index_dir / "CURRENT").exists()
    assert not (index_dir / "store.sqlite").exists()


def test_other_model_on_existing_index_is_refused(
    tmp_path: Path, tiny_index: Path, tiny_model_dir_b: Path, tiny_corpus
):
    index_dir = tmp_path / "index"
    shutil.copytree(tiny_index, index_dir)
    path, _ = tiny_corpus
    with pytest.raises(BuildError, match="cannot be mixed"):
        build(index_dir, [path], settings_for(tiny_model_dir_b))


def test_missing_input_is_a_clear_error(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(BuildError, match="does not exist"):
        build(tmp_path / "index", [tmp_path / "nope.xml"], settings_for(tiny_model_dir))


def test_article_without_text_is_stored_not_embedded(tmp_path: Path, tiny_model_dir: Path):
    rows = [*synthetic_articles(3, seed=3), {"pmid": 777, "journal": "Empty J"}]
    summary = build(
        tmp_path / "i", [write_jsonl(tmp_path / "x.jsonl", rows)], settings_for(tiny_model_dir)
    )
    manifest = IndexDir(tmp_path / "i").read_manifest()
    assert manifest.counts["articles"] == 4 and manifest.counts["vectors"] == 3
    assert summary.applied["not_embeddable"] == 1
    assert "not embedded 1" in summary.line()


def test_reader_never_sees_a_half_published_index(tmp_path: Path, tiny_model_dir: Path):
    """While builds publish new versions, every reader view is internally consistent."""
    index_dir = tmp_path / "index"
    settings = settings_for(tiny_model_dir, chunk_size=8)
    build(index_dir, [write_jsonl(tmp_path / "0.jsonl", synthetic_articles(20, seed=0))], settings)
    stop = threading.Event()
    problems: list[str] = []
    views = 0

    def reader() -> None:
        nonlocal views
        idx = IndexDir(index_dir)
        while not stop.is_set():
            manifest = idx.read_manifest()
            index = VectorIndex.load(idx.faiss_path(manifest.version))
            store = Store(idx.default_store_url(), readonly=True)
            try:
                counts = store.counts(manifest.version)
            finally:
                store.close()
            if (
                index.ntotal != manifest.counts["vectors"]
                or counts["articles"] != (manifest.counts["articles"])
            ):
                problems.append(f"v{manifest.version}: {index.ntotal} {counts} {manifest.counts}")
            views += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 4):
            rows = synthetic_articles(15, seed=i, first_pmid=5000 + 100 * i)
            build(index_dir, [write_jsonl(tmp_path / f"{i}.jsonl", rows)], settings)
    finally:
        stop.set()
        thread.join()
    assert views > 0 and not problems
    assert IndexDir(index_dir).read_manifest().counts["articles"] == 65


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PUBMED_SEARCH_BATCH_SIZE", "7")
    monkeypatch.setenv("PUBMED_SEARCH_SHOW_PROGRESS", "false")
    monkeypatch.setenv("PUBMED_SEARCH_MODEL", "env-model")
    monkeypatch.setenv("PUBMED_SEARCH_MAX_LENGTH", "99")
    s = BuildSettings.from_env({"model": "flag-model", "pooling": None}).resolved(None)
    assert (s.batch_size, s.show_progress, s.model, s.pooling) == (7, False, "flag-model", "mean")
    assert s.max_length == 99
    assert BuildSettings().resolved(None).model == "michiyasunaga/BioLinkBERT-base"


def test_cli_build_and_info(tmp_path: Path, tiny_model_dir: Path, tiny_corpus):
    from click.testing import CliRunner

    from pubmed_search.cli import cli

    path, rows = tiny_corpus
    runner = CliRunner()
    args = ["build", "--index", str(tmp_path / "i"), "--model", str(tiny_model_dir)]
    result = runner.invoke(cli, [*args, "--max-length", "64", "--no-progress", str(path)])
    assert result.exit_code == 0, result.output
    assert f"added {len(rows)}" in result.output
    info = runner.invoke(cli, ["info", "--index", str(tmp_path / "i")])
    shown = json.loads(info.output)
    assert shown["counts"]["articles"] == len(rows)
    assert shown["fusion"]["chosen_by"] == "calibration"  # measured by the build
    assert shown["fusion"]["summary"].startswith(shown["fusion"]["method"] + ", dense ")
    off = ["build", "--index", str(tmp_path / "n"), "--model", str(tiny_model_dir)]
    result = runner.invoke(cli, [*off, "--max-length", "64", "--no-calibrate", str(path)])
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(cli, ["info", "--index", str(tmp_path / "n")]).output)
    assert shown["fusion"]["summary"] == "rrf, dense 1 / lexical 1, k 60, depth 100 (default)"
    bad = runner.invoke(
        cli, ["build", "--index", str(tmp_path / "j"), "--model", "/nope", str(path)]
    )
    assert bad.exit_code == 1 and "/nope" in bad.output


def test_int8_index_records_quantisation_for_queries_and_updates(
    tmp_path: Path, tiny_model_dir: Path
):
    from search.loading import query_encoder_config

    rows = synthetic_articles(12, seed=5)
    index_dir = tmp_path / "index"
    build(
        index_dir,
        [write_jsonl(tmp_path / "a.jsonl", rows)],
        settings_for(tiny_model_dir, quantize="int8"),
    )
    manifest = IndexDir(index_dir).read_manifest()
    assert manifest.encoder.quantize == "int8"
    config, _, _ = query_encoder_config(manifest, None, None, "cpu")
    assert config.quantize == "int8"  # queries are encoded like the articles
    more = write_jsonl(tmp_path / "b.jsonl", synthetic_articles(3, seed=6, first_pmid=4000))
    assert build(index_dir, [more], BuildSettings(show_progress=False)).published  # keeps int8
    assert IndexDir(index_dir).read_manifest().encoder.quantize == "int8"
    with pytest.raises(BuildError, match="cannot be mixed"):
        build(index_dir, [more], settings_for(tiny_model_dir, quantize="none"))


def test_an_update_replaces_the_old_rescore_field() -> None:
    """A manifest from before ``rescore_depth`` recorded ``rescore``; the next build's
    parameters carry the index's own depth only (other recorded parameters are kept)."""
    from types import SimpleNamespace

    from indexer.build.pipeline import _faiss_params

    prev = SimpleNamespace(faiss_params={"factory": "IVF8,PQ8", "rescore": 200, "train_size": 9})
    index = SimpleNamespace(params={"factory": "IVF8,PQ8", "rescore_depth": 400}, train_size=None)
    got = _faiss_params(prev, index)
    assert got == {"factory": "IVF8,PQ8", "rescore_depth": 400, "train_size": 9}
