"""The bi-encoder that ``indexer.tune`` trains: loading (through ``indexer.models``, as ``build``
loads models), encoding with the encoder's pooling (``indexer.models.pooling``), the InfoNCE
loss with its temperature, held-out known-item evaluation, and saving the tuned model directory.

torch and transformers are imported only when called (``import_torch``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from indexer import durable
from indexer.models.device import autocast
from indexer.models.pooling import pool
from indexer.tune.data import Pair
from indexer.tune.settings import (
    EVAL_K,
    STATE_DIR,
    TAU_INIT,
    TAU_MAX,
    TAU_MIN,
    TUNING_FILE,
    TuneError,
    TuneSettings,
)


def import_torch():
    """torch, imported on first use (importing this module stays cheap)."""
    import torch

    return torch


def encode(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, pooling: str,
           device: str) -> Any:  # fmt: skip
    """Vectors of ``texts`` with gradients (training)."""
    batch = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True,
                      return_tensors="pt").to(device)  # fmt: skip
    with autocast(device):
        hidden = model(**batch).last_hidden_state
    return pool(hidden, batch["attention_mask"], pooling)


def embed(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, pooling: str,
          device: str, batch_size: int = 64) -> np.ndarray:  # fmt: skip
    """float32 vectors of ``texts`` without gradients (evaluation), in input order."""
    torch = import_torch()
    was_training = model.training
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            vecs = encode(model, tokenizer, [texts[i] for i in idx], max_length, pooling, device)
            out[idx] = vecs.float().cpu().numpy()
    model.train(was_training)
    return out


def known_item_scores(q: np.ndarray, d: np.ndarray, k: int = EVAL_K) -> dict[str, float]:
    """MRR@k and Recall@k where query i's only relevant candidate is candidate i."""
    if len(q) == 0:
        return {f"mrr@{k}": 0.0, f"recall@{k}": 0.0, "n": 0}
    sims = q @ d.T
    own = np.diag(sims)[:, None]
    ranks = 1 + (sims > own).sum(axis=1)
    hit = ranks <= k
    return {
        f"mrr@{k}": float(np.where(hit, 1.0 / ranks, 0.0).mean()),
        f"recall@{k}": float(hit.mean()),
        "n": len(q),
    }


def evaluate(model: Any, tokenizer: Any, pairs: Sequence[Pair], s: TuneSettings,
             device: str) -> dict[str, float]:  # fmt: skip
    """Held-out known-item scores: query = title/sentence, candidates = all held-out positives."""
    q = embed(model, tokenizer, [p.query for p in pairs], s.query_max_length, s.pooling, device)
    d = embed(model, tokenizer, [p.positive for p in pairs], s.max_length, s.pooling, device)
    return known_item_scores(q, d)


class Temperature:
    """InfoNCE temperature: learnable as log(tau) (clamped) or fixed."""

    def __init__(self, fixed: float | None, device: str) -> None:
        torch = import_torch()
        init = math.log(fixed if fixed is not None else TAU_INIT)
        self.log_tau = torch.nn.Parameter(torch.tensor(init, device=device))
        self.log_tau.requires_grad_(fixed is None)

    def value(self) -> Any:
        return self.log_tau.exp().clamp(TAU_MIN, TAU_MAX)

    def current(self) -> float:
        return float(self.value().detach())


def info_nce(q: Any, d: Any, tau: Any, mask: Any | None = None) -> Any:
    """Cross-entropy of query i against candidate i among all ``d`` rows (in-batch negatives)."""
    torch = import_torch()
    logits = (q @ d.T) / tau
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    labels = torch.arange(len(q), device=q.device)
    return torch.nn.functional.cross_entropy(logits, labels)


def negative_mask(batch: Sequence[Pair], device: str) -> Any:
    """True where a hard negative column is in fact the positive of that row's query."""
    torch = import_torch()
    n = len(batch)
    mask = torch.zeros((n, 2 * n), dtype=torch.bool, device=device)
    pos = [p.pmid for p in batch]
    for j, p in enumerate(batch):
        if p.negative is None:  # no negative found: a padding column nobody may pick
            mask[:, n + j] = True
            continue
        for i, pm in enumerate(pos):
            if pm == p.negative_pmid:
                mask[i, n + j] = True
    return mask


def _checkpointing(model: Any, enable: bool) -> None:
    """Activation (gradient) checkpointing on or off, by this transformers' name for it."""
    verb = "enable" if enable else "disable"
    fn = getattr(model, f"activation_checkpointing_{verb}", None)
    (fn or getattr(model, f"gradient_checkpointing_{verb}"))()


def write_output(out: Path, model: Any, tokenizer: Any, report: dict[str, Any]) -> None:
    """The model directory; the tuning report is written last and marks it complete."""
    from transformers.utils import logging as hf_logging

    if report["settings"]["gradient_checkpointing"]:
        _checkpointing(model, enable=False)
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        hf_logging.enable_progress_bar()
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    durable.write_text(out / TUNING_FILE, json.dumps(report, indent=2))
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)


def load_base(s: TuneSettings, device: str) -> tuple[Any, Any, str]:
    """(tokenizer, model, fingerprint) of the base model, loaded as ``build`` loads models."""
    from indexer.models.encoder import Encoder, EncoderConfig, ModelLoadError

    try:
        enc = Encoder.load(EncoderConfig(model=s.model, pooling=s.pooling, device=device))
    except ModelLoadError as e:
        raise TuneError(str(e)) from e
    if s.gradient_checkpointing:
        _checkpointing(enc.model, enable=True)
    return enc.tokenizer, enc.model, enc.fingerprint
