"""Asymmetric retrievers: an article model builds the index, a query model embeds the queries.

Two tiny BERTs of the same hidden size stand in for MedCPT's article and query encoders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from indexer.build import BuildError, build
from indexer.build.settings import BuildSettings
from indexer.manifest import IndexDir
from indexer.models.encoder import Encoder, EncoderConfig
from search import ModelMismatchError, SearchEngine
from tests.fixtures.models import build_tiny_bert

QUERIES = ["inhaled budesonide airway", "insulin glucose metformin", "stroke thrombolysis"]


@pytest.fixture(scope="module")
def pair_index(tmp_path_factory, tiny_corpus, tiny_model_dir, tiny_model_dir_b) -> Path:
    path, _ = tiny_corpus
    index_dir = tmp_path_factory.mktemp("pair") / "index"
    settings = BuildSettings(
        model=str(tiny_model_dir),
        query_model=str(tiny_model_dir_b),
        max_length=128,
        index_type="flat",
        show_progress=False,
    )
    build(index_dir, [path], settings)
    return index_dir


def _encoder(model: Path, **kw) -> Encoder:
    return Encoder.load(EncoderConfig(model=str(model), **kw))


def test_manifest_records_both_models(pair_index, tiny_model_dir, tiny_model_dir_b) -> None:
    info = IndexDir(pair_index).read_manifest().encoder
    assert info.model == str(tiny_model_dir)
    assert info.query_model == str(tiny_model_dir_b)
    assert info.fingerprint == _encoder(tiny_model_dir).fingerprint
    assert info.query_fingerprint == _encoder(tiny_model_dir_b).fingerprint
    assert info.fingerprint != info.query_fingerprint
    assert (info.query_pooling, info.query_max_length, info.max_length) == ("mean", 64, 128)


def test_search_embeds_queries_with_the_query_model(
    pair_index, tiny_model_dir, tiny_model_dir_b
) -> None:
    query_enc = _encoder(tiny_model_dir_b, max_length=64)
    article_enc = _encoder(tiny_model_dir, max_length=128)
    with SearchEngine.open(pair_index) as engine:
        assert engine.state.model == str(tiny_model_dir_b)
        for text in QUERIES:
            got = engine.embed_query(text)
            np.testing.assert_allclose(got, query_enc.encode([text])[0], atol=1e-5)
            assert float(got @ article_enc.encode([text])[0]) < 0.99  # not the article model
            # Dense scores are inner products of the query-model vector with stored vectors.
            response = engine.search(text, k=10, mode="dense")
            state = engine.state
            ids = np.array([h.doc_id for h in response.hits], dtype=np.int64)
            stored = state.vectors.read(ids)
            expected = stored @ query_enc.encode([text])[0]
            np.testing.assert_allclose([h.score for h in response.hits], expected, atol=2e-3)
            assert response.model == str(tiny_model_dir_b)


def test_article_vectors_come_from_the_article_model(pair_index, tiny_corpus, tiny_model_dir):
    _, rows = tiny_corpus
    row = next(r for r in rows if r["sections"])
    text = f"{row['title']} " + " ".join(s["text"] for s in row["sections"])
    with SearchEngine.open(pair_index) as engine:
        state = engine.state
        doc = state.store.doc_for_pmid(row["pmid"], state.version)
        assert doc.article.embed_text() == text
        stored = state.vectors.read(np.array([doc.doc_id], dtype=np.int64))[0]
    expected = _encoder(tiny_model_dir, max_length=128).encode([text])[0]
    np.testing.assert_allclose(stored, expected, atol=2e-3)  # fp16 storage


def test_a_different_query_model_copy_is_refused(pair_index, tmp_path) -> None:
    other = build_tiny_bert(tmp_path / "c", seed=5)
    with pytest.raises(ModelMismatchError, match="query model"):
        SearchEngine.open(pair_index, query_model=str(other))


def test_query_model_of_another_dimension_is_refused(tiny_corpus, tiny_model_dir, tmp_path):
    wide = build_tiny_bert(tmp_path / "wide", seed=2, hidden=48)
    settings = BuildSettings(
        model=str(tiny_model_dir), query_model=str(wide), show_progress=False, max_length=64
    )
    with pytest.raises(BuildError, match="48-dimensional"):
        build(tmp_path / "index", [tiny_corpus[0]], settings)


def test_cli_build_with_cls_pooling_and_query_model(
    tiny_corpus, tiny_model_dir, tiny_model_dir_b, tmp_path
) -> None:
    from pubmed_search.cli import cli

    index_dir = tmp_path / "cls"
    result = CliRunner().invoke(
        cli,
        [
            "build",
            "--index",
            str(index_dir),
            "--model",
            str(tiny_model_dir),
            "--query-model",
            str(tiny_model_dir_b),
            "--pooling",
            "cls",
            "--max-length",
            "64",
            "--no-progress",
            str(tiny_corpus[0]),
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((index_dir / "versions" / "v000001" / "manifest.json").read_text())
    assert info["encoder"]["pooling"] == info["encoder"]["query_pooling"] == "cls"
    text = QUERIES[0]
    with SearchEngine.open(index_dir) as engine:
        got = engine.embed_query(text)
    cls_vec = _encoder(tiny_model_dir_b, pooling="cls", max_length=64).encode([text])[0]
    mean_vec = _encoder(tiny_model_dir_b, pooling="mean", max_length=64).encode([text])[0]
    np.testing.assert_allclose(got, cls_vec, atol=1e-5)
    assert not np.allclose(got, mean_vec, atol=1e-3)
