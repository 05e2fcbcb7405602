"""Text -> vector: a Hugging Face encoder (BioLinkBERT by default), mean or CLS pooled.

Speed matters here (encoding is the expensive step of a build): ``torch.inference_mode``,
length-aware batching under a token budget (texts sorted by token count, so batches carry
little padding; the order is restored), all physical cores, fp16/bf16 autocast on CUDA only,
and optional dynamic int8 quantisation of ``nn.Linear`` on CPU with per-channel weights
(mean cosine to fp32 ~0.98 on all-MiniLM-L6-v2; per-tensor weights give only ~0.93).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.errors import PubmedSearchError
from indexer.models.device import DEVICES, QUANTIZATIONS, autocast, physical_cores, resolve_device
from indexer.models.loading import ModelKind, from_pretrained
from indexer.models.pooling import POOLINGS, pool

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


ENCODER = ModelKind(auto_class="AutoModel", error=ModelLoadError)


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
        for name, allowed in (
            ("pooling", POOLINGS),
            ("quantize", QUANTIZATIONS),
            ("device", DEVICES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}"
                )
        if self.quantize == "int8" and self.device == "cuda":
            raise ValueError("quantize='int8' runs on the CPU only: use device='cpu' or 'auto'")
        if self.max_length < 2 or self.batch_size < 1 or self.token_budget < 1:
            raise ValueError("max_length >= 2, batch_size >= 1 and token_budget >= 1 required")


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

        device = resolve_device(
            config.device,
            lambda reason: ModelLoadError(f"cannot load model {config.model!r}: {reason}"),
            prefer_cuda=config.quantize == "none",
        )
        torch.set_num_threads(config.threads or physical_cores())
        tokenizer, model, missing = from_pretrained(config.model, ENCODER)
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
        with self._lock, torch.inference_mode(), autocast(self.device):
            hidden = self.model(**inputs).last_hidden_state.float()
        pooled = pool(hidden, inputs["attention_mask"], self.config.pooling, self.config.normalize)
        return pooled.cpu().numpy().astype(np.float32, copy=False)

    def _tokenize(self, texts: Sequence[str]) -> dict[str, list[list[int]]]:
        with self._tok_lock:
            enc = self.tokenizer(
                list(texts),
                truncation=True,
                max_length=self.max_length,
                padding=False,
                return_attention_mask=False,
            )
        return {k: v for k, v in enc.items() if k in ("input_ids", "token_type_ids")}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens of this model's tokenizer each text is (no special tokens, no
        truncation): what a passage's token budget counts (``search.passages``)."""
        if not len(texts):
            return []
        with self._tok_lock:
            enc = self.tokenizer(
                list(texts), add_special_tokens=False, truncation=False, verbose=False
            )
        return [len(ids) for ids in enc["input_ids"]]

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """``[start, end)`` character offsets of each text's tokens (no special tokens, no
        truncation): the token count of any span of a text is then a lookup
        (``search.passages``)."""
        if not len(texts):
            return []
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        with self._tok_lock:
            if backend is not None:  # twice as fast as the tokenizer's __call__
                if backend.truncation is not None:  # left on by an encode() call
                    backend.no_truncation()
                if backend.padding is not None:
                    backend.no_padding()
                rows = [
                    e.offsets for e in backend.encode_batch(list(texts), add_special_tokens=False)
                ]
            else:
                rows = self.tokenizer(
                    list(texts),
                    add_special_tokens=False,
                    truncation=False,
                    return_offsets_mapping=True,
                    verbose=False,
                )["offset_mapping"]
        return [[(int(a), int(b)) for a, b in row] for row in rows]

    def encode_one_pass(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim) vectors of ``texts`` from a single forward pass (one padded
        batch, whatever the lengths): what a batch of short queries wants
        (``search.batch``), where one call beats the length-sorted batches of
        :meth:`encode`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        out[:] = self._forward(self._tokenize(texts), list(range(len(texts))))
        return out

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
        enc = self._tokenize(texts)
        lengths = [len(ids) for ids in enc["input_ids"]]
        from tqdm.auto import tqdm

        with tqdm(total=len(texts), unit="doc", desc="encoding", disable=not show_progress) as bar:
            for idx in self._batches(lengths, batch_size or self.config.batch_size):
                out[idx] = self._forward(enc, idx)
                bar.update(len(idx))
                if on_batch is not None:
                    on_batch(len(idx))
        return out
