"""Text -> vector: a Hugging Face encoder (BioLinkBERT by default), mean or CLS pooled.

Speed matters here (encoding is the expensive step of a build): ``torch.inference_mode``,
length-aware batching under a token budget (texts sorted by token count, so batches carry
little padding; the order is restored), all physical cores, fp16/bf16 autocast on CUDA only,
and optional dynamic int8 quantisation of ``nn.Linear`` on CPU with per-channel weights
(mean cosine to fp32 ~0.98 on all-MiniLM-L6-v2; per-tensor weights give only ~0.93).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from indexer.errors import PubmedSearchError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "michiyasunaga/BioLinkBERT-base"
# Padded tokens per forward pass. On the 2-core dev CPU, batches of length-sorted abstracts
# beat one-at-a-time only modestly and padding quickly eats the gain (see bench/encode.py).
DEFAULT_TOKEN_BUDGET = 8192
# On a CPU every padded token costs about as much as a real one, and a one-at-a-time loop over
# abstracts already runs matmuls near peak: measured with 1 thread (CPU seconds, 16 abstracts,
# BioLinkBERT-base shape), batch 1: 14.3 s, batch 4: 15.7, 8: 17.1, 16: 22.1 (+55%, padding).
# So on CPU a text joins a batch only if it is at most this much shorter than the batch width
# (large inputs have many texts of nearly equal length, which batch with next to no padding).
CPU_MAX_PADDING = 0.05


class ModelLoadError(PubmedSearchError, RuntimeError):
    """The model could not be loaded; the message names the model and how to fix it."""


@dataclass(frozen=True)
class EncoderConfig:
    model: str = DEFAULT_MODEL
    pooling: str = "mean"  # "mean" (over the attention mask) | "cls"
    max_length: int = 512
    normalize: bool = True
    quantize: str = "none"  # "none" | "int8" (dynamic, CPU only)
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    batch_size: int = 16
    threads: int | None = None  # torch threads; None: all physical cores
    token_budget: int = DEFAULT_TOKEN_BUDGET

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', not {self.pooling!r}")
        if self.quantize not in ("none", "int8"):
            raise ValueError(f"quantize must be 'none' or 'int8', not {self.quantize!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {self.device!r}")
        if self.quantize == "int8" and self.device == "cuda":
            raise ValueError("quantize='int8' runs on the CPU only: use device='cpu' or 'auto'")
        if self.max_length < 2 or self.batch_size < 1 or self.token_budget < 1:
            raise ValueError("max_length >= 2, batch_size >= 1 and token_budget >= 1 required")


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


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let the hub client try
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_error(name: str, reason: str) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load model {name!r}: {reason}. Fix: pass --model PATH to a local directory "
        f"holding the model (config.json, weights, tokenizer files); or pre-download it on a "
        f"connected machine with `huggingface-cli download {name}` and copy the Hugging Face "
        f"cache over; or, if it is already in the cache, set HF_HUB_OFFLINE=1 to use the cache"
    )


def _from_pretrained(name: str) -> tuple[Any, Any, set[str]]:
    """(tokenizer, model, keys initialised at random) from a local dir or the hub/cache."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = Path(name).expanduser()
    is_local = path.exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1
    if is_local and not path.is_dir():
        raise _load_error(name, f"no such directory: {path}")
    if is_local and not (path / "config.json").is_file():
        raise _load_error(name, f"{path} is not a model directory (no config.json)")
    attempts = [True] if (is_local or _offline()) else [True, False]  # the cache first
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        for local_only in attempts:
            if not local_only and not _hub_reachable():
                raise _load_error(name, "not in the local cache and the hub is unreachable")
            try:
                src = str(path) if is_local else name
                tok = AutoTokenizer.from_pretrained(src, local_files_only=local_only)
                model, info = AutoModel.from_pretrained(
                    src, local_files_only=local_only, output_loading_info=True
                )
                return tok, model, set(info.get("missing_keys") or ())
            except Exception as e:
                if local_only and len(attempts) > 1:
                    continue
                detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise _load_error(name, detail) from e
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    raise AssertionError("unreachable")


def weights_fingerprint(state: dict[str, Any], skip: Collection[str] = ()) -> str:
    """sha256 over names, dtypes, shapes and raw bytes of the tensors, in sorted key order."""
    import torch

    h = hashlib.sha256()
    for key in sorted(state):
        if key in skip:
            continue
        t = state[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


class Encoder:
    """A loaded encoder; ``encode`` is safe to call from several threads."""

    def __init__(self, config: EncoderConfig, tokenizer: Any, model: Any, fingerprint: str):
        import torch

        self.config = config
        self.tokenizer = tokenizer
        self.model = model
        self.fingerprint = fingerprint
        self.model_name = config.model
        self.dim = int(model.config.hidden_size)
        self.device = next(model.parameters(), torch.empty(0)).device
        positions = getattr(model.config, "max_position_embeddings", None) or config.max_length
        self.max_length = min(config.max_length, int(positions))
        self._lock = threading.Lock()  # one forward pass at a time
        self._tok_lock = threading.Lock()  # fast tokenizers are not safe to share across threads

    @classmethod
    def load(cls, config: EncoderConfig) -> Encoder:
        import torch

        device = config.device
        if device == "auto":
            cuda = torch.cuda.is_available() and config.quantize == "none"
            device = "cuda" if cuda else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(f"device 'cuda' was asked for {config.model!r} but no GPU is seen")
        torch.set_num_threads(config.threads or physical_cores())
        tokenizer, model, missing = _from_pretrained(config.model)
        if missing - {k for k in missing if k.startswith("pooler.")}:
            log.warning("%s: weights initialised at random: %s", config.model, sorted(missing))
        model.eval()
        fingerprint = weights_fingerprint(model.state_dict(), missing)
        if config.quantize == "int8":
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = quantize_dynamic(
                    model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
                )
        model.to(device)
        return cls(config, tokenizer, model, fingerprint)

    def _batches(self, lengths: list[int], batch_size: int) -> list[list[int]]:
        """Indices grouped longest first: <= batch_size texts and <= token_budget padded tokens
        a batch; on CPU, no text is padded by more than CPU_MAX_PADDING of the batch width."""
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        max_pad = CPU_MAX_PADDING if self.device.type == "cpu" else 1.0
        batches: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            width = lengths[cur[0]] if cur else lengths[i]
            if cur and (
                len(cur) >= batch_size
                or (len(cur) + 1) * width > self.config.token_budget
                or lengths[i] < width * (1.0 - max_pad)
            ):
                batches.append(cur)
                cur = []
            cur.append(i)
        if cur:
            batches.append(cur)
        return batches

    def _forward(self, enc: dict[str, list[list[int]]], idx: list[int]) -> np.ndarray:
        import torch

        width = max(len(enc["input_ids"][i]) for i in idx)
        pad_id = self.tokenizer.pad_token_id or 0
        inputs = {}
        for key, rows in enc.items():
            arr = np.full((len(idx), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
            for r, i in enumerate(idx):
                arr[r, : len(rows[i])] = rows[i]
            inputs[key] = torch.from_numpy(arr).to(self.device)
        if "attention_mask" not in inputs:
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                mask[r, : len(enc["input_ids"][i])] = 1
            inputs["attention_mask"] = torch.from_numpy(mask).to(self.device)
        autocast: Any = contextlib.nullcontext()
        if self.device.type == "cuda":
            half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            autocast = torch.autocast("cuda", dtype=half)
        with self._lock, torch.inference_mode(), autocast:
            hidden = self.model(**inputs).last_hidden_state.float()
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().numpy().astype(np.float32, copy=False)

    def encode(
        self,
        texts: Sequence[str],
        show_progress: bool = False,
        batch_size: int | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """float32 (n, dim) vectors in the order of ``texts``, L2-normalised if configured.

        ``on_batch(n)`` is called after each batch with the number of texts it encoded (the
        build's progress bar).
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        with self._tok_lock:
            enc = self.tokenizer(
                list(texts),
                truncation=True,
                max_length=self.max_length,
                padding=False,
                return_attention_mask=False,
            )
        enc = {k: v for k, v in enc.items() if k in ("input_ids", "token_type_ids")}
        lengths = [len(ids) for ids in enc["input_ids"]]
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), unit="doc", desc="encoding", disable=not show_progress) as bar:
            for idx in self._batches(lengths, batch_size or self.config.batch_size):
                out[idx] = self._forward(enc, idx)
                bar.update(len(idx))
                if on_batch is not None:
                    on_batch(len(idx))
        return out
