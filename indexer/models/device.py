"""Where a model runs: physical cores (torch and FAISS threads), the device, the half dtype.

Light on import (no torch until a function needs it): ``indexer.vectors.index`` imports
:func:`physical_cores` to size FAISS's thread pool.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEVICES = ("auto", "cpu", "cuda")
QUANTIZATIONS = ("none", "int8")  # "int8": dynamic per-channel int8 linear layers, CPU only
NO_GPU = "device 'cuda' was asked for but no GPU is seen"


def physical_cores() -> int:
    """Physical cores this process may run on (SMT siblings counted once)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus:
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for c in cpus:
        try:
            p = f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list"
            cores.add(Path(p).read_text().strip())
        except OSError:
            cores.add(str(c))
    return max(1, len(cores))


def resolve_device(
    device: str, error: Callable[[str], Exception], *, prefer_cuda: bool = True
) -> str:
    """ "cpu" or "cuda" for ``device`` ("auto" | "cpu" | "cuda").

    "auto" is "cuda" when a GPU is seen and ``prefer_cuda`` (False e.g. for int8 models, which
    run on the CPU only), else "cpu". "cuda" without a GPU, or an unknown device, raises
    ``error(reason)``.
    """
    if device not in DEVICES:
        raise error(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if prefer_cuda and torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise error(NO_GPU)
    return "cuda"


def half_dtype() -> Any:
    """The half-precision dtype of CUDA autocast: bfloat16 where supported, else float16."""
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: Any) -> Any:
    """Half-precision autocast on CUDA (``half_dtype``); a no-op context elsewhere."""
    kind = getattr(device, "type", device)
    if kind != "cuda":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=half_dtype())
