"""indexer.models.loading / device / pooling: the one loader of the encoder, the cross-encoder
and tuning (local directory vs hub id, offline, the message naming the fix)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.models import loading
from indexer.models.device import NO_GPU, physical_cores, resolve_device
from indexer.models.encoder import ENCODER, ModelLoadError
from indexer.models.loading import from_pretrained, load_error
from indexer.models.pooling import pool
from search.rerank import CROSS_ENCODER, RerankerLoadError


class Recorder:
    """Stands in for transformers' auto classes: records (source, local_files_only) calls and
    succeeds only when ``cached`` (local_files_only=True) or ``downloadable`` (False)."""

    def __init__(self, cached: bool, downloadable: bool = False) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.cached, self.downloadable = cached, downloadable

    def auto(self, label: str):
        rec = self

        class Auto:
            @staticmethod
            def from_pretrained(src, local_files_only=False, output_loading_info=False):
                rec.calls.append((label, src, local_files_only))
                if not (rec.cached if local_files_only else rec.downloadable):
                    raise OSError(f"{src} is not cached\nmore detail")
                obj = f"{label}:{src}"
                info = {"missing_keys": ["pooler.dense.bias"]}
                return (obj, info) if output_loading_info else obj

        return Auto


@pytest.fixture
def fake_hf(monkeypatch: pytest.MonkeyPatch):
    """Install a Recorder for AutoTokenizer, AutoModel and AutoModelForSequenceClassification;
    the hub probe is recorded too and says reachable unless told otherwise."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def install(cached: bool, downloadable: bool = False, reachable: bool = True) -> Recorder:
        rec = Recorder(cached, downloadable)
        # transformers swaps its own module object in sys.modules once its lazy parts load:
        # load them first, then patch the module the loader's `import transformers` will see
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        del AutoModel, AutoModelForSequenceClassification, AutoTokenizer
        live = sys.modules["transformers"]
        for name in ("AutoTokenizer", "AutoModel", "AutoModelForSequenceClassification"):
            monkeypatch.setattr(live, name, rec.auto(name))

        def probe(timeout: float = 3.0) -> bool:
            rec.calls.append(("probe", "", False))
            return reachable

        monkeypatch.setattr(loading, "hub_reachable", probe)
        return rec

    return install


def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return d


@pytest.mark.parametrize("kind", [ENCODER, CROSS_ENCODER], ids=["encoder", "cross-encoder"])
def test_a_local_directory_is_read_from_its_files_only(fake_hf, tmp_path, kind) -> None:
    rec = fake_hf(cached=True)
    d = model_dir(tmp_path)
    tok, model, missing = from_pretrained(str(d), kind)
    assert tok == f"AutoTokenizer:{d}" and model == f"{kind.auto_class}:{d}"
    assert missing == {"pooler.dense.bias"}
    assert rec.calls == [("AutoTokenizer", str(d), True), (kind.auto_class, str(d), True)]


@pytest.mark.parametrize("kind", [ENCODER, CROSS_ENCODER], ids=["encoder", "cross-encoder"])
def test_a_broken_local_directory_never_reaches_the_hub(fake_hf, tmp_path, kind) -> None:
    rec = fake_hf(cached=False, downloadable=True)
    d = model_dir(tmp_path)
    with pytest.raises(kind.error) as err:
        from_pretrained(str(d), kind)
    assert "is not cached" in str(err.value) and "more detail" not in str(err.value)
    assert all(local for _, _, local in rec.calls) and ("probe", "", False) not in rec.calls
    with pytest.raises(kind.error, match="no such directory"):
        from_pretrained(str(tmp_path / "missing"), kind)
    (tmp_path / "empty").mkdir()
    with pytest.raises(kind.error, match=r"not a model directory \(no config\.json\)"):
        from_pretrained(str(tmp_path / "empty"), kind)


@pytest.mark.parametrize("kind", [ENCODER, CROSS_ENCODER], ids=["encoder", "cross-encoder"])
def test_a_hub_id_offline_uses_the_cache_only(fake_hf, monkeypatch, kind) -> None:
    rec = fake_hf(cached=False, downloadable=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "some-org/some-model"
    with pytest.raises(kind.error) as err:
        from_pretrained(name, kind)
    assert rec.calls == [("AutoTokenizer", name, True)]  # no probe, no download
    msg = str(err.value)
    assert repr(name) in msg and f"{kind.option} PATH" in msg
    assert f"huggingface-cli download {name}" in msg and "HF_HUB_OFFLINE=1" in msg
    rec.cached = True
    assert from_pretrained(name, kind)[1] == f"{kind.auto_class}:{name}"


@pytest.mark.parametrize("kind", [ENCODER, CROSS_ENCODER], ids=["encoder", "cross-encoder"])
def test_a_hub_id_online_tries_the_cache_then_downloads(fake_hf, kind) -> None:
    name = "some-org/some-model"
    rec = fake_hf(cached=True)
    from_pretrained(name, kind)
    assert [c[0] for c in rec.calls] == ["AutoTokenizer", kind.auto_class]  # cache hit
    rec = fake_hf(cached=False, downloadable=True)
    assert from_pretrained(name, kind)[1] == f"{kind.auto_class}:{name}"
    assert rec.calls == [
        ("AutoTokenizer", name, True),
        ("probe", "", False),
        ("AutoTokenizer", name, False),
        (kind.auto_class, name, False),
    ]
    fake_hf(cached=False, downloadable=True, reachable=False)
    with pytest.raises(kind.error, match="not in the local cache and the hub is unreachable"):
        from_pretrained(name, kind)
    fake_hf(cached=False, downloadable=False)
    with pytest.raises(kind.error, match="is not cached"):  # the download's own reason
        from_pretrained(name, kind)


def test_messages_name_the_model_and_the_fix_of_each_kind() -> None:
    enc = load_error(ENCODER, "org/m", "why")
    assert type(enc) is ModelLoadError
    assert str(enc).startswith("cannot load model 'org/m': why. Fix: pass --model PATH")
    rr = load_error(CROSS_ENCODER, "org/x", "why")
    assert type(rr) is RerankerLoadError and isinstance(rr, ModelLoadError)
    assert str(rr).startswith("cannot load cross-encoder 'org/x' for re-ranking: why. Fix:")
    for e, name in ((enc, "org/m"), (rr, "org/x")):
        assert f"huggingface-cli download {name}" in str(e) and "HF_HUB_OFFLINE=1" in str(e)


def test_hub_probe_offline_and_behind_a_proxy(monkeypatch) -> None:
    monkeypatch.setattr(loading, "hub_address", lambda: ("127.0.0.1", 9))  # never asked
    for var in loading.PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    assert loading.offline() and not loading.hub_reachable(timeout=0.5)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not loading.offline() and loading.hub_reachable(timeout=0.5)


def test_is_local() -> None:
    assert loading.is_local("/models/x") and loading.is_local("./x") and loading.is_local("~/x")
    assert loading.is_local("a/b/c")
    assert not loading.is_local("michiyasunaga/BioLinkBERT-base")


def test_resolve_device(monkeypatch) -> None:
    import torch

    class Boom(Exception):
        pass

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu", Boom) == "cpu" and resolve_device("auto", Boom) == "cpu"
    with pytest.raises(Boom, match=NO_GPU):
        resolve_device("cuda", Boom)
    with pytest.raises(Boom, match="device must be"):
        resolve_device("tpu", Boom)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", Boom) == "cuda" and resolve_device("cuda", Boom) == "cuda"
    assert resolve_device("auto", Boom, prefer_cuda=False) == "cpu"  # e.g. int8 models
    assert physical_cores() >= 1


def test_pooling_mean_over_the_mask_and_cls() -> None:
    import torch

    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    mean = pool(hidden, mask, "mean", normalize=False)
    np.testing.assert_allclose(mean.numpy(), [[2.0, 2.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls", normalize=False).numpy(), [[1.0, 0.0]])
    unit = pool(hidden, mask, "mean").numpy()
    np.testing.assert_allclose(unit, [[2**-0.5, 2**-0.5]], rtol=1e-6)
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, mask, "max")
