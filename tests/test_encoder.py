"""indexer.models.encoder on tiny seeded BERTs built by the fixtures (and real MiniLM, slow)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.models.encoder import DEFAULT_MODEL, Encoder, EncoderConfig, ModelLoadError
from tests.fixtures.common import shared_file
from tests.fixtures.models import synthetic_texts

TEXTS = synthetic_texts(40, seed=7)
SHORT = "Insulin receptor kinase in tumour cells."
LONG = " ".join(synthetic_texts(30, seed=3))  # far beyond 512 tokens


@pytest.fixture(scope="module")
def enc(tiny_model_dir: Path) -> Encoder:
    return Encoder.load(EncoderConfig(model=str(tiny_model_dir)))


def _reference_mean(model_dir: Path, text: str) -> np.ndarray:
    """Mean pooling written out directly against transformers, one text, no padding."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    inputs = tok(text, return_tensors="pt", truncation=True, max_length=512)
    with torch.no_grad():
        h = model(**inputs).last_hidden_state[0]
    v = h.mean(0).numpy()
    return v / np.linalg.norm(v)


def test_default_model_and_config_validation() -> None:
    assert DEFAULT_MODEL == "michiyasunaga/BioLinkBERT-base"
    assert EncoderConfig().model == DEFAULT_MODEL
    for bad in ({"pooling": "max"}, {"quantize": "int4"}, {"device": "tpu"}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            EncoderConfig(model="x", **bad)


def test_load_dim_and_normalised(enc: Encoder, tiny_model_dir: Path) -> None:
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert enc.dim == cfg["hidden_size"] == 32
    assert enc.model_name == str(tiny_model_dir)
    v = enc.encode(TEXTS)
    assert v.shape == (len(TEXTS), 32) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in v}) == len(TEXTS)  # distinct texts, distinct vectors


def test_matches_direct_transformers_mean_pooling(enc: Encoder, tiny_model_dir: Path) -> None:
    for text in (SHORT, TEXTS[5]):
        np.testing.assert_allclose(
            enc.encode([text])[0], _reference_mean(tiny_model_dir, text), atol=1e-5
        )


def test_unnormalised_and_cls_pooling(tiny_model_dir: Path, enc: Encoder) -> None:
    raw = Encoder.load(EncoderConfig(model=str(tiny_model_dir), normalize=False)).encode(TEXTS)
    norms = np.linalg.norm(raw, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)
    np.testing.assert_allclose(raw / norms[:, None], enc.encode(TEXTS), atol=1e-5)
    cls = Encoder.load(EncoderConfig(model=str(tiny_model_dir), pooling="cls")).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1.0, atol=1e-5)
    cos = (cls * enc.encode(TEXTS)).sum(1)
    assert np.all(cos < 0.999)  # a different pooling gives different vectors


def test_empty_input(enc: Encoder) -> None:
    assert enc.encode([]).shape == (0, 32)
    assert enc.encode([""]).shape == (1, 32)


def test_batch_composition_and_order_do_not_matter(
    enc: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexer.models.encoder as encoder_mod

    alone = enc.encode([SHORT])[0]
    monkeypatch.setattr(encoder_mod, "CPU_MAX_PADDING", 1.0)  # let any length share a batch
    mixed = [*TEXTS[:10], SHORT, LONG]
    lengths = [len(ids) for ids in enc.tokenizer(mixed, truncation=True).input_ids]
    batches = enc._batches(lengths, batch_size=16)
    assert [11, 10] in [b[:1] + [i for i in b if i == 10] for b in batches]  # SHORT padded
    batch = enc.encode(mixed, batch_size=16)
    np.testing.assert_allclose(batch[10], alone, atol=1e-5)  # padded to LONG's width
    full = enc.encode(TEXTS)
    rev = enc.encode(TEXTS[::-1])[::-1]
    one_by_one = np.stack([enc.encode([t])[0] for t in TEXTS[:8]])
    np.testing.assert_allclose(rev, full, atol=1e-5)
    np.testing.assert_allclose(one_by_one, full[:8], atol=1e-5)
    for bs in (1, 3, 64):
        np.testing.assert_allclose(enc.encode(TEXTS, batch_size=bs), full, atol=1e-5)


def test_token_budget_bounds_batches(
    tiny_model_dir: Path, enc: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexer.models.encoder as encoder_mod

    small = Encoder.load(EncoderConfig(model=str(tiny_model_dir), token_budget=600))
    lengths = [512, 500, 40, 30, 20, 10, 5]
    monkeypatch.setattr(encoder_mod, "CPU_MAX_PADDING", 1.0)
    batches = small._batches(lengths, batch_size=16)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 600
    assert batches[0] == [0] and batches[1] == [1] and batches[2] == [2, 3, 4, 5, 6]
    assert small._batches(lengths, batch_size=2)[2:] == [[2, 3], [4, 5], [6]]
    np.testing.assert_allclose(small.encode(TEXTS), enc.encode(TEXTS), atol=1e-5)


def test_cpu_batches_carry_little_padding(enc: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.models.encoder as encoder_mod

    monkeypatch.setattr(encoder_mod, "CPU_MAX_PADDING", 0.05)
    lengths = [50, 100, 97, 99, 90, 50, 300, 96]
    assert enc._batches(lengths, batch_size=16) == [[6], [1, 3, 2, 7], [4], [0, 5]]
    assert enc._batches(lengths, batch_size=2) == [[6], [1, 3], [2, 7], [4], [0, 5]]
    many = [int(x) for x in np.random.default_rng(0).integers(100, 400, 2000)]
    batches = enc._batches(many, batch_size=16)
    padded = sum(len(b) * max(many[i] for i in b) for b in batches)
    assert padded <= 1.05 * sum(many)  # under 5% padding overall
    assert np.mean([len(b) for b in batches]) > 4  # yet real batches on a large input


def test_truncation_at_max_length(tiny_model_dir: Path, enc: Encoder) -> None:
    n_tokens = len(enc.tokenizer(LONG)["input_ids"])
    assert n_tokens > 700
    # everything past token 512 is ignored
    v = enc.encode([LONG, LONG + " apoptosis mitochondrial glucose " * 50])
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)
    short_cfg = Encoder.load(EncoderConfig(model=str(tiny_model_dir), max_length=16))
    a, b = TEXTS[0] + " " + TEXTS[1], TEXTS[0] + " " + TEXTS[2]
    assert len(enc.tokenizer(TEXTS[0])["input_ids"]) > 16
    sa, sb = short_cfg.encode([a, b])
    np.testing.assert_allclose(sa, sb, atol=1e-6)
    fa, fb = enc.encode([a, b])
    assert float(fa @ fb) < 0.9999


def test_fingerprint(tiny_model_dir: Path, tiny_model_dir_b: Path, enc: Encoder) -> None:
    again = Encoder.load(EncoderConfig(model=str(tiny_model_dir), pooling="cls"))
    other = Encoder.load(EncoderConfig(model=str(tiny_model_dir_b)))
    assert len(enc.fingerprint) == 64 and int(enc.fingerprint, 16) >= 0
    assert again.fingerprint == enc.fingerprint
    assert other.fingerprint != enc.fingerprint
    assert other.dim == enc.dim
    assert not np.allclose(other.encode([SHORT]), enc.encode([SHORT]), atol=1e-3)
    q = Encoder.load(EncoderConfig(model=str(tiny_model_dir), quantize="int8"))
    assert q.fingerprint == enc.fingerprint  # taken before quantisation


def test_missing_path_raises_model_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as ei:
        Encoder.load(EncoderConfig(model=str(missing)))
    msg = str(ei.value)
    assert str(missing) in msg and "--model PATH" in msg and "HF_HUB_OFFLINE" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a model directory"):
        Encoder.load(EncoderConfig(model=str(tmp_path / "empty")))


def test_unknown_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "pubmed-search-tests/no-such-model-xyz"
    with pytest.raises(ModelLoadError) as ei:
        Encoder.load(EncoderConfig(model=name))
    msg = str(ei.value)
    assert name in msg
    assert "--model PATH" in msg and f"huggingface-cli download {name}" in msg
    assert "HF_HUB_OFFLINE=1" in msg


def test_int8_runs(tiny_model_dir: Path, enc: Encoder) -> None:
    import torch

    q = Encoder.load(EncoderConfig(model=str(tiny_model_dir), quantize="int8"))
    dyn = torch.ao.nn.quantized.dynamic.Linear
    assert sum(isinstance(m, dyn) for m in q.model.modules()) >= 12  # 6 per layer, 2 layers
    assert not any(type(m) is torch.nn.Linear for m in q.model.modules())
    v = q.encode(TEXTS)
    assert v.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cos = (v * enc.encode(TEXTS)).sum(1)
    assert cos.mean() > 0.95
    assert np.abs(v - enc.encode(TEXTS)).max() > 1e-6  # quantisation did change the weights
    with pytest.raises(ValueError, match="CPU only"):
        EncoderConfig(model=str(tiny_model_dir), quantize="int8", device="cuda")


def test_concurrent_threads_agree(enc: Encoder) -> None:
    expected = enc.encode(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(enc.encode(TEXTS))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


def test_progress_bar(enc: Encoder, capsys: pytest.CaptureFixture[str]) -> None:
    enc.encode(TEXTS[:5], show_progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "doc" in err
    enc.encode(TEXTS[:5])
    assert capsys.readouterr().err == ""


def _abstracts(n: int) -> list[str]:
    path = shared_file("pubmedqa", "corpus.jsonl")
    out = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            out.append(" ".join(s["text"] for s in rec["sections"]))
            if len(out) == n:
                break
    return out


@pytest.mark.slow
def test_int8_close_to_fp32_on_real_minilm(minilm_model_dir: Path) -> None:
    texts = _abstracts(50)
    fp32 = Encoder.load(EncoderConfig(model=str(minilm_model_dir)))
    int8 = Encoder.load(EncoderConfig(model=str(minilm_model_dir), quantize="int8"))
    assert fp32.dim == 384 and int8.fingerprint == fp32.fingerprint
    a, b = fp32.encode(texts), int8.encode(texts)
    cos = (a * b).sum(1)
    assert cos.mean() >= 0.98, cos.mean()
    # the quantised model still ranks: each abstract is its own nearest neighbour
    assert (np.argmax(b @ a.T, axis=1) == np.arange(len(texts))).mean() >= 0.98


def test_on_batch_reports_progress_per_batch(enc: Encoder) -> None:
    texts = synthetic_texts(12, seed=3)
    calls: list[int] = []
    out = enc.encode(texts, batch_size=2, on_batch=calls.append)
    assert sum(calls) == len(texts) and len(calls) >= len(texts) // 2
    np.testing.assert_allclose(out, enc.encode(texts), atol=1e-5)
