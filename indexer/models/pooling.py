"""Pooling of a transformer's last hidden state into one vector a text.

The same function serves the encoder (build, query) and tuning, so a tuned model is trained
with exactly the pooling it is later used with.
"""

from __future__ import annotations

from typing import Any

POOLINGS = ("mean", "cls")


def pool(hidden: Any, mask: Any, pooling: str, normalize: bool = True) -> Any:
    """float32 (n, dim): the [CLS] vector or the mean over ``mask`` (1 = real token), then
    L2-normalised if ``normalize``."""
    import torch

    hidden = hidden.float()
    if pooling == "cls":
        pooled = hidden[:, 0]
    elif pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    else:
        raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled
