"""An index built from a local model directory serves from any working directory.

The manifest records a local model's absolute path and its path relative to the index
directory; a reader tries the first, then the second, so an index moved together with its
model still finds it. A missing model is named as a path, with no hub advice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import build
from indexer.build.settings import BuildSettings
from indexer.errors import EXIT_FAILURE
from indexer.manifest import MANIFEST_NAME, IndexDir
from indexer.models.encoder import ENCODER, ModelLoadError
from indexer.models.loading import load_error
from search import ModelMismatchError, SearchEngine


def _settings(**kw) -> BuildSettings:
    return BuildSettings(max_length=64, index_type="flat", show_progress=False, **kw)


@pytest.fixture
def work(tmp_path, monkeypatch, tiny_corpus, tiny_model_dir, tiny_model_dir_b) -> Path:
    """``work/indexes/i`` built with the RELATIVE model paths ``models/a`` (and ``models/b``
    as the query model of ``work/indexes/pair``) from inside ``work``."""
    corpus, _ = tiny_corpus
    work = tmp_path / "work"
    shutil.copytree(tiny_model_dir, work / "models" / "a")
    shutil.copytree(tiny_model_dir_b, work / "models" / "b")
    monkeypatch.chdir(work)
    build("indexes/i", [corpus], _settings(model="models/a"))
    build("indexes/pair", [corpus], _settings(model="models/a", query_model="models/b"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return work


def _query(index_dir: Path):
    from pubmed_search.commands.query import command

    return CliRunner().invoke(command, ["--index", str(index_dir), "insulin glucose"])


def test_the_manifest_records_absolute_and_index_relative_paths(work: Path) -> None:
    manifest = IndexDir(work / "indexes" / "i").read_manifest()
    assert manifest.encoder.model == str(work / "models" / "a")
    assert manifest.encoder.model_relpath == "../../models/a"
    assert manifest.built_in == str(work / "indexes" / "i")
    pair = IndexDir(work / "indexes" / "pair").read_manifest().encoder
    assert pair.query_model == str(work / "models" / "b")
    assert pair.query_model_relpath == "../../models/b"


def test_an_index_serves_from_another_working_directory(work: Path) -> None:
    for name in ("i", "pair"):
        with SearchEngine.open(work / "indexes" / name) as engine:
            assert engine.search("insulin glucose", k=3, mode="dense").hits
    result = _query(work / "indexes" / "i")
    assert result.exit_code == 0, result.output


def test_an_index_moved_with_its_models_finds_them_relative_to_itself(
    work: Path, tmp_path: Path, tiny_corpus
) -> None:
    moved = tmp_path / "other" / "parent"
    moved.parent.mkdir()
    shutil.move(str(work), str(moved))
    assert not work.exists()
    for name, model in (("i", "a"), ("pair", "b")):
        with SearchEngine.open(moved / "indexes" / name) as engine:
            assert engine.search("insulin glucose", k=3, mode="dense").hits
            assert engine.state.embedder.encoder.model_name == str(moved / "models" / model)
    assert _query(moved / "indexes" / "i").exit_code == 0
    # an update without --model finds the moved model too
    summary = build(moved / "indexes" / "i", [tiny_corpus[0]], _settings())
    assert summary.version == 1 and not summary.published  # nothing new, the model loaded


@pytest.mark.parametrize("name,model", [("i", "a"), ("pair", "b")])
def test_a_missing_model_is_named_as_a_path_without_hub_advice(
    work: Path, name: str, model: str
) -> None:
    shutil.rmtree(work / "models" / model)
    result = _query(work / "indexes" / name)
    assert result.exit_code == EXIT_FAILURE, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("Error: ") and len(message.splitlines()) == 1
    assert f"no such model directory: {work / 'models' / model}" in message
    assert f"recorded by the index built in {work / 'indexes' / name}" in message
    assert "pass --model with a copy" in message
    assert "huggingface-cli" not in message
    with pytest.raises(ModelLoadError, match="no such model directory"):
        SearchEngine.open(work / "indexes" / name)


def test_a_different_model_at_the_recorded_path_is_refused(
    work: Path, tiny_model_dir_b: Path
) -> None:
    shutil.rmtree(work / "models" / "a")
    shutil.copytree(tiny_model_dir_b, work / "models" / "a")
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        SearchEngine.open(work / "indexes" / "i")


def _as_old_build(index_dir: Path, model: str) -> None:
    """Rewrite the manifest as a build before this change wrote it: the model as given."""
    path = IndexDir(index_dir).version_dir(IndexDir(index_dir).current_version()) / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["encoder"]["model"] = model
    for key in ("model_relpath", "query_model_relpath"):
        data["encoder"].pop(key, None)
    data.pop("built_in", None)
    path.write_text(json.dumps(data))


def test_an_old_relative_path_is_tried_against_the_cwd_then_the_index(
    work: Path, monkeypatch
) -> None:
    index_dir = work / "indexes" / "i"
    _as_old_build(index_dir, "models/a")  # relative to the build's working directory
    monkeypatch.chdir(work)
    with SearchEngine.open(index_dir) as engine:  # against the current directory, as before
        assert engine.search("insulin", k=3, mode="dense").hits
    _as_old_build(index_dir, "../../models/a")
    monkeypatch.chdir(work.parent / "elsewhere")
    with SearchEngine.open(index_dir) as engine:  # not in the cwd: against the index directory
        assert engine.search("insulin", k=3, mode="dense").hits
    _as_old_build(index_dir, "some-org/some-model")  # a hub id stays a hub id
    info = IndexDir(index_dir).read_manifest()
    from search.loading import query_encoder_config

    config, _, _ = query_encoder_config(info, None, None, "cpu", index_dir)
    assert config.model == "some-org/some-model"


def test_load_error_tells_paths_from_hub_ids(tmp_path: Path) -> None:
    local = str(load_error(ENCODER, str(tmp_path / "m"), "no such directory"))
    assert "pass --model with a copy" in local and "huggingface-cli" not in local
    hub = str(load_error(ENCODER, "org/m", "why"))
    assert "huggingface-cli download org/m" in hub
